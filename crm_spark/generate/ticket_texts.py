"""Ticket bodies whose wording carries a theme and a polarity (the planted truth of issue 26).

Each theme has several phrasings per polarity, written the way customers write: negation
("not happy at all"), intensifiers ("really", "extremely"), capitals and exclamation marks,
polite neutral requests, quotes and commas. ``{d}`` is a number (days, an order reference, an
amount); ``CONTACT_LINES`` are what a body may end with: the customer's own e-mail or phone.
"""

from __future__ import annotations

THEMES = ("delivery_late", "refund", "product_defect", "account_login", "praise")
POLARITIES = ("negative", "neutral", "positive")

# the theme a customer's chosen category usually stands for (billing disputes are about money back)
CATEGORY_THEME = {"delivery": "delivery_late", "refund": "refund", "product": "product_defect",
                  "account": "account_login", "billing": "refund"}

BODIES: dict[tuple[str, str], tuple[str, ...]] = {
    ("delivery_late", "negative"): (
        "My parcel has not arrived yet, the tracking page says \"in transit\" since {d} days. "
        "This is really frustrating and I am not happy at all.",
        "Still no delivery after {d} days! Terrible service, I am very disappointed.",
        "The order is late AGAIN, nobody answers my e-mails. Awful, I want to cancel.",
    ),
    ("delivery_late", "neutral"): (
        "Could you tell me when my order will be delivered? It has been {d} days.",
        "The tracking number for order {d} shows no update. When should I expect the parcel?",
        "Where is my parcel? The estimated delivery date was {d} days ago.",
    ),
    ("delivery_late", "positive"): (
        "The parcel was {d} days late, but it finally arrived and your team was very helpful. Thank you!",
        "Thanks for sorting out the delivery so quickly, great support.",
        "Delivery took a while, but the courier was friendly and everything is fine now. Much appreciated.",
    ),
    ("refund", "negative"): (
        "I returned the item, but I am still waiting for my refund. Order ref {d}. This is unacceptable, "
        "I feel cheated.",
        "I was charged twice for the same order, {d} GBP! Angry and disappointed, fix it now.",
        "No refund after {d} days, and no answer either. Worst customer service ever.",
    ),
    ("refund", "neutral"): (
        "I returned order {d} last week. Could you confirm when the refund will be processed?",
        "I was charged {d} GBP twice for the same order, please check.",
        "Which account will the refund for order {d} go to?",
    ),
    ("refund", "positive"): (
        "The refund for order {d} arrived quickly, thank you, great service!",
        "Thanks for fixing the double charge so fast, I really appreciate it.",
        "Refund received, very smooth and easy. Happy with how this was handled.",
    ),
    ("product_defect", "negative"): (
        "The product arrived damaged, the lid is cracked. Very poor quality, I am disappointed.",
        "It stopped working after {d} days. Broken, useless and a waste of money.",
        "The item is defective and the replacement is broken too! Horrible, I hate this.",
    ),
    ("product_defect", "neutral"): (
        "The product arrived with a cracked lid; could you send a replacement?",
        "The item from order {d} does not switch on. What should I do next?",
        "One part is missing from the box. Can you send it to me?",
    ),
    ("product_defect", "positive"): (
        "The first one was faulty, but the replacement works perfectly. Thanks for the excellent help!",
        "Great product overall, just one small scratch; thank you for the quick replacement.",
        "Your team solved the defect in {d} minutes, brilliant support, thank you.",
    ),
    ("account_login", "negative"): (
        "I can't log in to my account, the password reset e-mail never comes. This is so annoying!",
        "Locked out of my account for {d} days. Useless website, really frustrating.",
        "Your login page is broken and support ignores me. Terrible experience, not happy.",
    ),
    ("account_login", "neutral"): (
        "I can't log in to my account, the password reset e-mail never comes.",
        "How do I change the e-mail address of my account?",
        "I would like to update my account details. Could you tell me how?",
    ),
    ("account_login", "positive"): (
        "Thanks, I can log in again, the reset worked. Great help!",
        "The new login page is really easy to use, well done.",
        "Account unlocked in {d} minutes, thank you for the friendly support.",
    ),
    ("praise", "positive"): (
        "I just wanted to say thank you, the service was excellent and I love the products!",
        "Great shop, fast delivery and friendly people. I will definitely order again.",
        "Very happy with my last {d} orders, wonderful quality. Keep up the good work!",
    ),
}

# where a body carries the customer's own contact details; {email}, {phone} filled per ticket
CONTACT_LINES = (
    " You can reach me at {email}.",
    " Call me back on {phone}.",
    " My e-mail is {email}, phone {phone}.",
)

# P(negative), P(positive) of a ticket by its satisfaction score (1-5; neutral is the rest):
# the score the person would give drives the tone of what they write
TONE_BY_SCORE = {1: (0.85, 0.02), 2: (0.65, 0.05), 3: (0.30, 0.20), 4: (0.10, 0.50), 5: (0.05, 0.70)}
CATEGORY_AGREES = 0.85          # a non-praise theme is its category's theme this often
PRAISE_SHARE_OF_POSITIVE = 0.5  # a positive ticket is pure praise this often
CONTACT_RATE = 0.15             # a body carries the customer's e-mail or phone this often
# an emerging issue: a login outage in the last SURGE_DAYS before the data's end date, when
# this share of the issue tickets are about logging in, whatever the box the customer ticked
SURGE_THEME = "account_login"
SURGE_DAYS = 28
SURGE_SHARE = 0.4
