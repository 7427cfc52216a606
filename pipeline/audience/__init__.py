"""The true community size: distinct persons who follow at least one active employee.

`AudienceGraph` folds normalised events in incrementally and takes snapshots
(`schemas.metrics` rows); `report` renders snapshot rows for people or as JSON.
The audience agent and `chorus audience report --from FILE` share this code.
"""

from pipeline.audience.graph import AudienceGraph

__all__ = ["AudienceGraph"]
