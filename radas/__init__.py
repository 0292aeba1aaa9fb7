"""radas: one awaitable call from hyperparameter sweep to DataFrame, figure and email."""

from radas.core import get_cold_data_dir, get_data_dir, get_ray_results_dir

__all__ = ["get_data_dir", "get_cold_data_dir", "get_ray_results_dir"]
