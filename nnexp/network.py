"""Network: a flat list of layers built from specs, with forward, backward and named params.

Parameters are addressed as ``"<layer name>.<param>"``: the tutorial's ``W1`` is
``dense_0.W`` (shape ``(n_out, n_in)``), its ``b2`` is ``dense_1.b``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from nnexp.base import BuildContext, Layer
from nnexp.errors import ConfigError, DataError, NnexpError, ShapeError, UnknownComponentError
from nnexp.registry import split_spec

DTYPES = ("float32", "float64")


def make_rngs(seed: int) -> dict[str, np.random.Generator]:
    """Independent random streams from one seed: init, shuffle and dropout."""
    init, shuffle, dropout = np.random.SeedSequence(seed).spawn(3)
    return {
        "init": np.random.default_rng(init),
        "shuffle": np.random.default_rng(shuffle),
        "dropout": np.random.default_rng(dropout),
    }


def expand_layer_specs(specs: Sequence) -> list:
    """Expand the ``{type: dense, units: n, activation: relu}`` shorthand into two layers."""
    out = []
    for spec in specs:
        if isinstance(spec, Mapping) and "activation" in spec and spec.get("type") == "dense":
            spec = dict(spec)
            act = spec.pop("activation")
            out.append(spec)
            if act not in (None, "identity", "linear"):
                out.append(act)
        else:
            out.append(spec)
    return out


class Network:
    """A feed-forward network: ``layers`` applied in order to inputs of ``input_size``.

    ``layers`` are registry names (``"relu"``), specs (``{"type": "dense", "units": 64}``) or
    :class:`Layer` objects. A spec may carry ``name`` to name the layer; otherwise layers are
    named ``<type>_<k>`` counting per type (``dense_0``, ``relu_0``, ``dense_1``).
    ``seed`` fixes the initial weights and, independently, the dropout draws.
    """

    #: The output activation the config appended to a layer list for its loss (said at run start).
    appended_head: str | None = None

    def __init__(self, layers: Sequence, input_size, *, dtype: str = "float32", seed: int = 0,
                 init: str | Mapping | None = None, registry=None):
        if registry is None:
            from nnexp.plugins import get_registry

            registry = get_registry()
        if not _is_dtype(dtype) or str(np.dtype(dtype)) not in DTYPES:
            raise ConfigError("network dtype", dtype, " or ".join(DTYPES))
        self.dtype = np.dtype(dtype)
        self.input_shape = _as_shape(input_size)
        from nnexp.optim import check_seed

        self.seed = check_seed("network seed", seed)
        self.init = init
        self.registry = registry
        self.rngs = make_rngs(self.seed)
        self.layers: list[Layer] = []
        self.names: list[str] = []
        self.types: list[str] = []
        counts: dict[str, int] = {}
        shape = self.input_shape
        specs = expand_layer_specs(layers)
        if not specs:
            raise ConfigError("network layers", list(layers), "at least one layer")
        for index, spec in enumerate(specs):
            layer, type_name, name = self._make_layer(spec, counts)
            if name in self.names:
                raise ConfigError(f"layer {index} name", name, "a name no other layer has")
            ctx = BuildContext(self.dtype, self.rngs["init"], self.rngs["dropout"], registry,
                               init or "xavier_uniform", name)
            try:
                shape = tuple(layer.build(shape, ctx))
            except NnexpError as exc:
                # Prefix in place: error classes differ in constructor signature.
                exc.args = (f"{name} (layer {index}): {exc}",)
                raise
            self.layers.append(layer)
            self.names.append(name)
            self.types.append(type_name)
        self.output_shape = shape
        self.outputs: list = [None] * len(self.layers)

    # -- construction ----------------------------------------------------------------------
    def _make_layer(self, spec, counts):
        if isinstance(spec, Layer):
            type_name = getattr(spec, "type_name", type(spec).__name__.lower())
            layer, name = spec, None
        else:
            type_name, opts = split_spec("layer", spec)
            name = opts.pop("name", None)
            kind = self._kind_of(type_name)
            layer = self.registry.create(kind, type_name, **opts)
            type_name = self.registry.get(kind, type_name).name
        if name is None:
            name = f"{type_name}_{counts.get(type_name, 0)}"
            counts[type_name] = counts.get(type_name, 0) + 1
        layer.type_name = type_name
        return layer, type_name, name

    def _kind_of(self, type_name: str) -> str:
        for kind in ("layer", "activation"):
            if (kind, type_name) in self.registry:
                return kind
        raise self.registry.missing("layer", type_name, kinds=("layer", "activation"))

    @classmethod
    def mlp(cls, input_size: int, hidden: Sequence[int], output_size: int, *,
            activation="relu", output_activation="identity", dropout: float = 0.0,
            batchnorm: bool = False, **kwargs) -> Network:
        """The MLP shorthand: ``input -> [dense, (batchnorm), activation, (dropout)] * len(hidden)
        -> dense(output_size) -> output_activation``."""
        layers: list = []
        for units in hidden:
            layers.append({"type": "dense", "units": units})
            if batchnorm:
                layers.append("batchnorm")
            layers.append(activation)
            if dropout:
                layers.append({"type": "dropout", "rate": dropout})
        layers.append({"type": "dense", "units": output_size})
        if output_activation not in (None, "identity", "linear"):
            layers.append(output_activation)
        return cls(layers, input_size, **kwargs)

    @classmethod
    def from_spec(cls, spec: Mapping, registry=None) -> Network:
        """Rebuild from :meth:`spec` output (or a config of the same form)."""
        spec = dict(spec)
        return cls(spec.pop("layers"), spec.pop("input_size"), registry=registry, **spec)

    def spec(self) -> dict:
        """A JSON-able description from which :meth:`from_spec` rebuilds this network."""
        layers = [{"type": t, "name": n, **layer.config()}
                  for t, n, layer in zip(self.types, self.names, self.layers)]
        out = {"input_size": list(self.input_shape), "layers": layers,
               "dtype": str(self.dtype), "seed": self.seed}
        if self.init is not None:
            out["init"] = self.init
        return out

    # -- computation -----------------------------------------------------------------------
    def check_input(self, X: np.ndarray) -> None:
        """Raise :class:`ShapeError` unless ``X`` is ``(batch, *input_shape)``."""
        if X.shape[1:] != self.input_shape or X.ndim < 2:
            want = ", ".join(["batch", *map(str, self.input_shape)])
            raise ShapeError(f"{self.names[0]} (layer 0) expects input of shape ({want}), "
                             f"got {tuple(X.shape)}.")

    def forward(self, X: np.ndarray, training: bool = False, stop: int | None = None) -> np.ndarray:
        """Apply layers ``[0, stop)`` (all by default); each output is kept in ``outputs``."""
        self.check_input(X)
        out = X
        outputs = self.outputs
        for i, layer in enumerate(self.layers[:stop] if stop is not None else self.layers):
            out = layer.forward(out, training)
            outputs[i] = out
        return out

    __call__ = forward

    def predict(self, X: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        """Outputs in evaluation mode, in chunks, as the network's dtype."""
        X = np.asarray(X, dtype=self.dtype)
        if len(X) <= batch_size:
            return self.forward(X, training=False)
        return np.concatenate([self.forward(X[i:i + batch_size]) for i in range(0, len(X), batch_size)])

    def backward(self, grad_out: np.ndarray, start: int | None = None,
                 input_grad: bool = True) -> np.ndarray | None:
        """Back-propagate dL/d(output of layer ``start``, default the last) to the input;
        fills every layer's ``grads`` and returns dL/dX. With ``input_grad=False`` (training)
        a first layer that defines ``backward_params`` skips the unused dL/dX."""
        layers = self.layers if start is None else self.layers[:start + 1]
        grad = grad_out
        for layer in reversed(layers[1:]):
            grad = layer.backward(grad)
        first = layers[0] if layers else None
        if first is None:
            return grad
        if not input_grad and hasattr(first, "backward_params"):
            first.backward_params(grad)
            return None
        return first.backward(grad)

    # -- parameters ------------------------------------------------------------------------
    def param_refs(self) -> list[tuple[str, Layer, str]]:
        """``(full name, layer, key)`` for every parameter, in layer order."""
        return [(f"{n}.{k}", layer, k) for n, layer in zip(self.names, self.layers) for k in layer.params]

    @property
    def params(self) -> dict[str, np.ndarray]:
        """Parameters by name (``dense_0.W``): the live arrays, not copies."""
        return {name: layer.params[k] for name, layer, k in self.param_refs()}

    @property
    def grads(self) -> dict[str, np.ndarray]:
        """Gradients of the last backward by name, same keys and shapes as :attr:`params`."""
        return {name: layer.grads[k] for name, layer, k in self.param_refs() if k in layer.grads}

    def layer(self, name: str) -> Layer:
        try:
            return self.layers[self.names.index(name)]
        except ValueError:
            raise UnknownComponentError("layer name", name, self.names, hint="") from None

    def set_params(self, values: Mapping[str, np.ndarray]) -> None:
        """Copy values into the parameters in place (optimizer state stays bound)."""
        params = self.params
        unknown = set(values) - set(params)
        if unknown:
            raise UnknownComponentError("parameter", sorted(unknown)[0], params, hint="")
        for name, value in values.items():
            value = np.asarray(value)
            if value.shape != params[name].shape:
                raise ShapeError(f"parameter {name} has shape {params[name].shape}, "
                                 f"got a value of shape {value.shape}.")
            params[name][...] = value

    @property
    def buffers(self) -> dict[str, np.ndarray]:
        """Non-trainable state by name (``batchnorm_0.running_mean``): the live arrays a
        layer keeps in its ``buffers`` dict. Saved and loaded with the parameters."""
        return {f"{n}.{k}": v for n, layer in zip(self.names, self.layers)
                for k, v in getattr(layer, "buffers", {}).items()}

    @property
    def n_params(self) -> int:
        return sum(p.size for p in self.params.values())

    def save(self, path) -> Path:
        """Write parameters and the spec to ``.npz`` (no pickle)."""
        path = Path(path)
        # ignore: numpy's stub lets **kwds fill allow_pickle
        np.savez(path, __spec__=np.array(json.dumps(self.spec())), **self.params, **self.buffers)  # type: ignore[arg-type]
        return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")

    @classmethod
    def load(cls, path, registry=None) -> Network:
        """Rebuild a network saved by :meth:`save` (no pickle is ever loaded); a file that is
        not one raises :class:`DataError` saying so."""
        import zipfile

        def not_a_model(why: str) -> DataError:
            return DataError(f"{str(path)!r} is not an nnexp model: {why}. Expected a network "
                             "saved by Network.save (a run's model.npz artifact).")

        try:
            data = np.load(path, allow_pickle=False)
        except ValueError as exc:
            with open(path, "rb") as f:
                pickled = f.read(1) == b"\x80"  # a pickle's protocol opcode
            why = ("it is a pickle, which nnexp never loads" if pickled and "pickle" in str(exc)
                   else "it is not a NumPy .npz archive")
            raise not_a_model(why) from None
        except (zipfile.BadZipFile, EOFError, OSError) as exc:
            if isinstance(exc, OSError) and exc.errno is not None:
                raise
            raise not_a_model("it is not a NumPy .npz archive (a truncated or damaged file?)") from None
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise not_a_model("it is a single array (.npy), not an .npz archive")
        with data:
            if "__spec__" not in data.files:
                raise not_a_model("the archive has no __spec__ (the network's description); it holds "
                                  + (", ".join(data.files[:5]) or "nothing"))
            try:
                spec = json.loads(str(data["__spec__"]))
                net = cls.from_spec(spec, registry=registry)
            except NnexpError:
                raise
            except (ValueError, TypeError, KeyError, AttributeError) as exc:
                raise not_a_model(f"its __spec__ does not describe a network ({type(exc).__name__}: {exc})") from None
            buffers = net.buffers
            net.set_params({k: data[k] for k in data.files if k not in buffers and k != "__spec__"})
            for k in buffers.keys() & set(data.files):
                buffers[k][...] = data[k]
        return net

    def summary(self) -> str:
        """One line per layer: name, the layer with its options, parameter count."""
        lines = []
        for name, layer in zip(self.names, self.layers):
            n = sum(p.size for p in layer.params.values())
            lines.append(f"{name:<16} {repr(layer):<44} params={n}")
        lines.append(f"total params: {self.n_params}  dtype: {self.dtype}")
        return "\n".join(lines)

    def __repr__(self):
        return f"Network({' -> '.join(self.names)}, input={self.input_shape}, dtype={self.dtype})"


def _as_shape(size) -> tuple[int, ...]:
    shape = (size,) if isinstance(size, (int, np.integer)) else tuple(size)
    if not shape or not all(isinstance(s, (int, np.integer)) and s > 0 for s in shape):
        raise ConfigError("network input_size", size, "a positive integer (features per sample)")
    return tuple(int(s) for s in shape)


def _is_dtype(dtype) -> bool:
    try:
        np.dtype(dtype)
    except TypeError:
        return False
    return True
