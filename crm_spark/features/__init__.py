"""Features: point-in-time tables computed for one ``as_of`` date from silver and the sales base,
the inputs of the models (``features.customer_features``)."""
