"""Write the format-version-1 model fixture and the outputs it must keep giving.

Run once with the version that introduced a format (``python tests/data/make_model_fixture.py``);
later versions must load the committed files and reproduce the recorded outputs.
"""

import os

import numpy as np

import skbgmm
from skbgmm import VariationalGMM
from skbgmm._data import make_recipe_data

here = os.path.dirname(os.path.abspath(__file__))
X, _ = make_recipe_data(600)
model = VariationalGMM(n_components=5, random_state=0).fit(X)
skbgmm.save(model, os.path.join(here, "model_v1.npz"))
Xq = X[::20]
np.savez(
    os.path.join(here, "model_v1_expected.npz"),
    X=Xq,
    score=model.score_samples(Xq),
    labels=model.predict(Xq),
    means=model.means_,
)
