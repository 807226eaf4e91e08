"""The NumPy Dormand-Prince integrator that the laws' predictions use inside simulation jobs:
accurate against closed forms, events located to the steps' accuracy, terminal events stop."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dln.model.ode import Event, integrate


def test_exponential_growth_and_its_crossing_time():
    ev = Event(lambda _t, y: y[0] - 1e3, direction=1.0, terminal=True)
    t, y = integrate(lambda _t, y: 2.0 * y, np.array([1.0]), 100.0, [ev])
    assert ev.t == pytest.approx(math.log(1e3) / 2, rel=1e-9)
    assert t == ev.t and y[0] == pytest.approx(1e3, rel=1e-9)


def test_oscillator_keeps_its_energy_and_non_terminal_events_fire_once():
    down = Event(lambda _t, y: y[0], direction=-1.0)  # x falls through 0 at t = pi/2
    t, y = integrate(lambda _t, y: np.array([y[1], -y[0]]), np.array([1.0, 0.0]), 10.0, [down])
    assert t == pytest.approx(10.0) and y == pytest.approx([math.cos(10), -math.sin(10)], abs=1e-8)
    assert down.t == pytest.approx(math.pi / 2, rel=1e-9)


def test_an_event_in_the_wrong_direction_is_not_taken():
    up = Event(lambda _t, y: y[0], direction=1.0, terminal=True)  # x first rises through 0 at 3pi/2
    integrate(lambda _t, y: np.array([y[1], -y[0]]), np.array([1.0, 0.0]), 10.0, [up])
    assert up.t == pytest.approx(3 * math.pi / 2, rel=1e-9)
