"""Service and study configuration, read from the environment (prefix ``GRIDDERMS_``).

Examples
--------
``GRIDDERMS_VM_MIN_PU=0.94 gridderms powerflow baran-wu-33`` checks against a 0.94 pu floor.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from network_models.cache_dir import default_cache_dir
from solvers.limits import OperatingLimits


class Settings(BaseSettings):
    """gridderms settings.

    Attributes
    ----------
    vm_min_pu, vm_max_pu : float
        Bus voltage band used by the violation checks [pu].
    max_loading_percent : float
        Line and transformer thermal limit used by the violation checks [%].
    cache_dir : Path
        Where built-in feeders are cached as pandapower JSON after their first build.
    """

    model_config = SettingsConfigDict(env_prefix="GRIDDERMS_", extra="ignore")

    vm_min_pu: float = Field(default=0.95, gt=0.0, allow_inf_nan=False)
    vm_max_pu: float = Field(default=1.05, gt=0.0, allow_inf_nan=False)
    max_loading_percent: float = Field(default=100.0, gt=0.0, allow_inf_nan=False)
    cache_dir: Path = Field(default_factory=default_cache_dir)

    def operating_limits(self) -> OperatingLimits:
        """The configured voltage band and thermal limit as :class:`OperatingLimits`."""
        return OperatingLimits(
            vm_min_pu=self.vm_min_pu,
            vm_max_pu=self.vm_max_pu,
            max_loading_percent=self.max_loading_percent,
        )
