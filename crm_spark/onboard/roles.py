"""What a column of an export holds, guessed from its name: the *role* it plays (an order id, a
customer id, a quantity, a date ...), and which canonical column of an entity each role fills.

Names are compared by their words joined in lower case (``Customer ID``, ``customer_id`` and
``CustomerID`` are all ``customerid``).
"""

from __future__ import annotations

from crm_spark.onboard.infer import words

ROLE_NAMES: dict[str, set[str]] = {
    "id": {"id"},
    "customer": {"customerid", "custid", "customerno", "customernumber", "customerref", "customer",
                 "clientid", "clientno", "client", "memberid", "memberno", "accountid", "userid",
                 "contactid", "personid", "buyerid", "shopperid"},
    "order_id": {"orderid", "orderno", "ordernumber", "orderref", "invoiceno", "invoiceid",
                 "invoicenumber", "invoice", "transactionid", "txnid", "receiptid", "receiptno",
                 "basketid", "saleid"},
    "line_no": {"lineno", "linenumber", "lineid", "line", "lineitem", "position"},
    "sku": {"sku", "stockcode", "productid", "productcode", "productno", "product", "itemcode",
            "itemid", "itemno", "articleid", "articleno", "article", "ean", "upc"},
    "quantity": {"quantity", "qty", "units", "unitssold", "itemcount", "numberofitems", "pieces"},
    "unit_price": {"unitprice", "price", "priceeach", "itemprice", "unitcost", "listprice"},
    "total": {"total", "amount", "ordertotal", "totalamount", "totalprice", "ordervalue", "value",
              "revenue", "sales", "amountspent", "spend", "spent", "netamount", "grandtotal",
              "dollarvalue", "dollars"},
    "ts": {"orderdate", "invoicedate", "orderts", "ordertime", "orderdatetime", "date", "datetime",
           "transactiondate", "transactiontime", "purchasedate", "purchasetime", "timestamp",
           "time", "txndate", "saledate", "ts"},
    "product_name": {"description", "productname", "itemname", "title", "productdescription",
                     "productdesc"},
    "name": {"name"},
    "category": {"category", "productcategory", "department", "productgroup", "categoryname"},
    "currency": {"currency", "currencycode"},
    "status": {"status", "orderstatus"},
    "country": {"country", "countrycode", "countryname"},
    "email": {"email", "emailaddress", "mail"},
    "phone": {"phone", "phonenumber", "mobile", "mobilephone", "tel", "telephone", "cell",
              "cellphone"},
    "first_name": {"firstname", "givenname", "forename", "fname", "first"},
    "last_name": {"lastname", "surname", "familyname", "lname", "last"},
    "full_name": {"fullname", "customername", "contactname", "clientname", "membername"},
    "birth_date": {"birthdate", "dob", "dateofbirth", "birthday"},
    "street": {"street", "address", "streetaddress", "address1", "addressline1"},
    "house_number": {"housenumber", "streetnumber", "houseno"},
    "city": {"city", "town"},
    "postcode": {"postcode", "zip", "zipcode", "postalcode", "plz"},
    "state": {"state", "region", "province", "county"},
    "created_at": {"createdat", "created", "createddate", "createdon", "signupdate", "signup",
                   "joindate", "joined", "joinedon", "registered", "registrationdate",
                   "customersince"},
    "updated_at": {"updatedat", "updated", "modified", "modifiedat", "lastmodified", "lastupdated",
                   "updatedon"},
    "login": {"login", "username"},
}

# role -> canonical column, per entity kind
ENTITY_ROLES: dict[str, dict[str, str]] = {
    "order_line": {"order_id": "order_id", "line_no": "line_no", "sku": "sku",
                   "quantity": "quantity", "unit_price": "unit_price"},
    "order": {"order_id": "order_id", "id": "order_id", "customer": "customer_ref", "ts": "order_ts",
              "status": "status", "currency": "currency", "total": "total", "country": "country"},
    "product": {"sku": "sku", "id": "sku", "product_name": "name", "name": "name",
                "category": "category", "unit_price": "price"},
    "contact": {"customer": "source_id", "id": "source_id", "first_name": "first_name",
                "last_name": "last_name", "full_name": "full_name", "name": "full_name",
                "email": "email", "phone": "phone", "house_number": "house_number",
                "street": "street", "city": "city", "postcode": "postcode", "state": "state",
                "country": "country", "birth_date": "birth_date", "login": "login",
                "created_at": "created_at", "updated_at": "updated_at"},
}

# the canonical columns a row cannot do without: missing -> the row is quarantined
KEY_COLUMNS = {"order_line": ("order_id", "sku", "quantity", "unit_price"),
               "order": ("order_id", "order_ts"), "product": ("sku",), "contact": ("source_id",)}
PERSON_ROLES = {"email", "phone", "first_name", "last_name", "full_name", "birth_date", "street",
                "postcode", "city", "login"}
# the types a role's column must have to be mapped without a warning
ROLE_TYPES = {"quantity": ("INT", "BIGINT"), "unit_price": ("DECIMAL", "INT", "BIGINT", "DOUBLE"),
              "total": ("DECIMAL", "INT", "BIGINT", "DOUBLE"), "ts": ("TIMESTAMP", "DATE"),
              "created_at": ("TIMESTAMP", "DATE"), "updated_at": ("TIMESTAMP", "DATE"),
              "birth_date": ("DATE", "TIMESTAMP"), "line_no": ("INT", "BIGINT")}


def role_of(column: str) -> str | None:
    key = "".join(words(column))
    return next((role for role, names in ROLE_NAMES.items() if key in names), None)


def roles_of(columns: list[str]) -> dict[str, str]:
    """role -> the first column that plays it."""
    found: dict[str, str] = {}
    for column in columns:
        role = role_of(column)
        if role is not None and role not in found:
            found[role] = column
    return found
