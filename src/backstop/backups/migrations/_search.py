"""The PostgreSQL search document, shared by migrations 0003 and 0004 and by `search.py`."""

# ASCII punctuation but ' and %: PostgreSQL's parser reads "a/b.pdf", "x@y.z", "-12" or "<b>" as
# one token (or drops it); turned into spaces they are words, as SQLite's tokenizer sees them.
PUNCTUATION = '!"#$&()*+,-./:;<=>?@[\\]^_`{|}~'
PG_VECTOR = (
    "to_tsvector('simple'::regconfig, translate("
    """"name" || ' ' || "author" || ' ' || "path" || ' ' || "text", """
    f"'{PUNCTUATION}', '{' ' * len(PUNCTUATION)}'))"
)
