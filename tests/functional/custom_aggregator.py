"""A replacement aggregator used to prove that code changes produce new versions."""


def doubled(payloads, fields):
    return {"count": 2 * len(payloads)}


doubled.code_version = "doubled-v1"
