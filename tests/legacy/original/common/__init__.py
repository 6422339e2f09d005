"""The original system's own `common` package (a miniature)."""
