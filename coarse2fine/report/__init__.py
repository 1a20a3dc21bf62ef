"""The HTML report of a discovery run, and the 2-D feature maps it shows."""

from __future__ import annotations

from coarse2fine.report.html import write_report
from coarse2fine.report.maps import feature_maps

__all__ = ["feature_maps", "write_report"]
