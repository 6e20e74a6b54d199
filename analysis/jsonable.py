"""Analysis results as plain JSON: DataFrames become lists of records, NaN (an undefined figure)
becomes null, numpy scalars become Python numbers, so ``--json`` output is strict JSON."""

import math

import numpy as np
import pandas as pd


def jsonable(value):
    if isinstance(value, pd.DataFrame):
        return [jsonable(row) for row in value.to_dict("records")]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    return value
