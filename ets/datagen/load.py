"""Household electric load from richardsonpy's stochastic, occupancy-based model (Richardson et al.,
"Domestic electricity use: a high-resolution energy demand model", Energy and Buildings 42, 2010).

The occupancy model (10-minute active occupants) drives appliance and lighting use at 1-minute
resolution; lighting reacts to the weather year's global irradiance. Electric space and water heating
devices are excluded. Appliance use is calibrated to richardsonpy's multi-family reference demand: the
model, unnormalised, lands well above its single-family reference (by about half in a trial year of 40
households), and the smaller reference keeps annual loads in the usual range. Each household draws from
its own seeded random stream.
"""

from __future__ import annotations

import random
from importlib import resources

import numpy as np
import richardsonpy.classes.appliance as appliance_model
import richardsonpy.classes.lighting as lighting_model
import richardsonpy.classes.occupancy as occupancy_model
import richardsonpy.classes.stochastic_el_load_wrapper as wrapper_model
from richardsonpy.classes.electric_load import ElectricLoad

from ets.datagen.weather import Weather
from optimizer.flows import Array

MINUTES_PER_DAY = 1440


def minute_load_w(weather: Weather, occupants: int, days: int, first_weekday: int, seed: int) -> Array:
    """Electric power (W) of one household, one value per minute for ``days`` days from 1 January.

    ``first_weekday``: 1-5 Monday-Friday, 6-7 Saturday-Sunday, as richardsonpy counts.
    """
    random.seed(seed)
    occupancy = occupancy_model.Occupancy(number_occupants=occupants, initial_day=first_weekday, nb_days=days)
    inputs = resources.files("richardsonpy") / "inputs"
    annual_demand = ElectricLoad.standard_consumption["MFH"][occupants]
    appliances = appliance_model.Appliances(
        str(inputs / "Appliances.csv"), annual_consumption=0.91 * annual_demand, randomize_appliances=True,
        prev_heat_dev=True,
    )  # fmt: skip
    lights = lighting_model.load_lighting_profile(filename=str(inputs / "LightBulbs.csv"), index=0)
    profile = wrapper_model.ElectricityProfile(appliances, lights)
    irradiance_hourly = weather.global_horizontal
    hours = np.arange(24 * days + 1)
    minutes = np.arange(MINUTES_PER_DAY * days) / 60.0
    irradiance = np.interp(minutes, hours, np.append(irradiance_hourly[: 24 * days], irradiance_hourly[24 * days - 1]))
    out = np.empty(MINUTES_PER_DAY * days)
    for day in range(days):
        weekend = (day + first_weekday) % 7 in (0, 6)
        window = slice(MINUTES_PER_DAY * day, MINUTES_PER_DAY * (day + 1))
        total, _, _ = profile.power_sim(
            irradiation=irradiance[window],
            weekend=weekend,
            day=day,
            occupancy=occupancy.occupancy[144 * day : 144 * (day + 1)],
        )
        out[window] = total
    return out
