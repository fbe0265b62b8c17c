"""The local stack: the same Lambda code against moto's server, resources made from template.yaml."""
