"""Customer-lifetime-value models fitted by maximum likelihood (pure numpy/scipy)."""
