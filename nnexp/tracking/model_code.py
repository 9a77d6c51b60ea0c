"""The code MLflow runs to load an nnexp network (MLflow's "models from code").

:func:`nnexp.tracking.model.log_model` logs this file as the model's ``python_model`` and the
network's own ``.npz`` (:meth:`nnexp.Network.save`) as its ``network`` artifact. Loading the
model runs this file, which rebuilds the network with :meth:`nnexp.Network.load`: nothing is
unpickled. Importing it anywhere else has one effect: :func:`mlflow.models.set_model`.
"""

# No `from __future__ import annotations`: MLflow reads the type hint of predict at load time.
import mlflow
import numpy as np
from mlflow.pyfunc import PythonModel


class NetworkModel(PythonModel):
    """``predict(X)`` is :meth:`nnexp.Network.predict`: ``(n, features)`` -> ``(n, outputs)``
    (class probabilities after softmax/sigmoid, else the raw outputs), in the network's dtype."""

    def load_context(self, context) -> None:
        from nnexp.network import Network

        self.network = Network.load(context.artifacts["network"])

    def predict(self, context, model_input: np.ndarray, params=None) -> np.ndarray:
        # MLflow has checked the input against the signature's float64 (n, features) tensor
        # (a CSV's or a JSON request's columns arrive as such an array); the network casts it.
        return self.network.predict(model_input)


mlflow.models.set_model(NetworkModel())
