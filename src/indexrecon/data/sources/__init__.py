"""Data sources that write the store: demo (synthetic), files (Parquet/CSV), tdx, akshare."""
