"""Full-text side of experts-service: Chinese/English analysis, the Whoosh
index of expert profiles, its atomic rebuild, and relevance queries.

Knows nothing about Flask or the database: it takes plain dicts in and gives
ranked ids with explanations out. `experts_service.search_bridge` connects it
to the application.
"""
