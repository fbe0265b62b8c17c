"""pik_nb: investigation data in typed DataFrames, analyses, plots and explain(event_id)."""

__all__: list[str] = []
