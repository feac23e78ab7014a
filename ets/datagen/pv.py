"""PV output of a rooftop system from hourly weather, with pvlib.

Per hour: solar position at mid-hour; beam normal irradiance from the beam on the horizontal; plane-of-
array irradiance by the Hay-Davies transposition; cell temperature by the Faiman model; DC power by
PVWatts (-0.37 %/K); 14 % system and inverter losses, clipped at the rated power. Each hour's energy is
spread over its sub-steps in proportion to the sun's height in each (zero while the sun is down).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pvlib

from ets.datagen.weather import Weather
from optimizer.flows import Array

SYSTEM_LOSSES = 0.10
"""Wiring, mismatch, soiling and inverter together (an unshaded, well-kept rooftop system)."""
TEMPERATURE_COEFFICIENT = -0.0037
"""Per kelvin, relative to 25 degC."""


def hourly_pv_kwh(weather: Weather, kwp: float, tilt_deg: float, azimuth_deg: float) -> Array:
    """kWh produced in each hour of the weather year by ``kwp`` facing ``azimuth_deg`` (180 = south)."""
    if kwp <= 0:
        return np.zeros(len(weather.start))
    mid = weather.start + pd.Timedelta(minutes=30)
    sun = pvlib.solarposition.get_solarposition(
        mid, weather.latitude, weather.longitude, weather.altitude, temperature=weather.temperature
    )
    zenith = sun["apparent_zenith"].to_numpy()
    cos_zenith = np.cos(np.radians(zenith))
    dni = np.where(zenith < 88.0, weather.beam_horizontal / np.maximum(cos_zenith, 0.035), 0.0)
    poa = pvlib.irradiance.get_total_irradiance(
        tilt_deg, azimuth_deg, zenith, sun["azimuth"].to_numpy(), np.minimum(dni, 1200.0),
        weather.global_horizontal, weather.diffuse_horizontal,
        dni_extra=pvlib.irradiance.get_extra_radiation(mid).to_numpy(), model="haydavies", albedo=0.2,
    )  # fmt: skip
    poa_global = np.nan_to_num(np.asarray(poa["poa_global"], dtype=np.float64), nan=0.0).clip(min=0.0)
    cell = pvlib.temperature.faiman(poa_global, weather.temperature, weather.wind_speed)
    dc = pvlib.pvsystem.pvwatts_dc(poa_global, cell, kwp * 1000.0, TEMPERATURE_COEFFICIENT)
    ac = np.clip(np.asarray(dc, dtype=np.float64) * (1 - SYSTEM_LOSSES), 0.0, kwp * 1000.0)
    return ac / 1000.0


def spread_over_steps(weather: Weather, hourly_kwh: Array, steps_per_hour: int) -> Array:
    """Split each hour's energy over ``steps_per_hour`` sub-steps by the cosine of the solar zenith."""
    minutes = 60 // steps_per_hour
    starts = pd.date_range(weather.start[0], periods=len(weather.start) * steps_per_hour, freq=f"{minutes}min")
    mid = starts + pd.Timedelta(minutes=minutes / 2)
    zenith = pvlib.solarposition.get_solarposition(mid, weather.latitude, weather.longitude)["zenith"].to_numpy()
    weight = np.maximum(np.cos(np.radians(zenith)), 0.0).reshape(-1, steps_per_hour)
    total = weight.sum(axis=1, keepdims=True)
    share = np.divide(weight, total, out=np.zeros_like(weight), where=total > 0)
    result: Array = (share * hourly_kwh[:, None]).reshape(-1)
    return result
