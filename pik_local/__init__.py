"""The local stack: the same Lambda code against moto's server, resources made from template.yaml."""

from pik_api._moved import register

# Old module paths, each still importable with a DeprecationWarning until the next release: the API client
# is shared with pik_nb and pik (pik_api), and the generated incident is a story (three modules were
# called ``incident``).
MOVED = {"pik_local.client": "pik_api.client", "pik_local.incident": "pik_local.story"}
__getattr__ = register(MOVED)
