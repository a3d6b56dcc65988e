"""Serving items added after training: the catalogue stored beside a model (``store``), adding
items to it from a table with the dataset's encoder (``add``), and a loaded model that ranks its
trained and added items together without the LLM (``served``)."""
