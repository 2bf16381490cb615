"""The price book (book.py: prices, which one holds, the cost SQL) and its table (store.py)."""
