"""Data intervals: the half-open time range ``[start, end)`` one pipeline run is about."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"interval bound {value.isoformat()} has no time zone; use UTC")
    return value.astimezone(UTC)


@dataclass(frozen=True, order=True)
class Interval:
    """A data interval, as Airflow's ``data_interval_start``/``data_interval_end``."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _utc(self.start))
        object.__setattr__(self, "end", _utc(self.end))
        if self.end <= self.start:
            raise ValueError(
                f"empty data interval: end {self.end.isoformat()} is not after "
                f"start {self.start.isoformat()}"
            )

    @classmethod
    def parse(cls, start: str, end: str) -> Interval:
        """From ISO dates or date-times; a bare date means midnight UTC."""
        return cls(_parse_bound(start), _parse_bound(end))

    @classmethod
    def day(cls, day: date) -> Interval:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return cls(start, start + timedelta(days=1))

    @property
    def partition(self) -> str:
        """The lake partition folder name, keyed by the interval start."""
        if self.start.time() == datetime.min.time():
            return f"dt={self.start.date().isoformat()}"
        return f"dt={self.start.strftime('%Y-%m-%dT%H%M%S')}"

    def contains_day(self, day: date) -> bool:
        """Whether a delivery folder dated ``day`` (midnight UTC) falls inside the interval."""
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return self.start <= moment < self.end

    def overlaps(self, other: Interval) -> bool:
        return self.start < other.end and other.start < self.end

    def __str__(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


def _parse_bound(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value
