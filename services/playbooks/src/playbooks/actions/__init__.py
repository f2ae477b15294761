"""Built-in actions; importing this package registers them."""

from . import dbt, planner, search

__all__ = ["dbt", "planner", "search"]
