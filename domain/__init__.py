"""Pure rules of the token business: pricing, forecasting, billing periods, subscription policy.

No I/O, no clock, no database: everything here is a function of its arguments (and of settings),
so workflows, activities and services may all call it.
"""
