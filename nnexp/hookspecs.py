"""The hook specifications: the whole contract between nnexp and a plugin.

A plugin is a module (or object) with functions marked ``@nnexp.hookimpl`` whose names are
among the hooks below. Built-ins are plugins too: ``nnexp/builtins/*.py`` use exactly these
hooks. Installed packages are found through the ``nnexp`` entry-point group::

    [project.entry-points.nnexp]
    my_acts = "my_package.plugin"

A plugin implements only the hooks it needs and may accept any subset of a hook's arguments.
A misspelled hook name is an error (the plugin is reported as failed), not silently ignored.

Registration hooks (``register_*``) are called once, when the registry is built, with a
``register`` callable bound to the calling plugin, so every component records which plugin and
distribution gave it::

    register(name, factory, *, aliases=())

- ``name``: lower-case, ``[a-z][a-z0-9_]*``. Every component also answers to
  ``distribution:name``. A name another distribution has too never changes meaning: a
  built-in keeps it, two plugins make the bare name ambiguous, and each provider's component
  stays reachable by its qualified name (a one-line warning names both; strict mode refuses).
- ``factory``: a class or function; ``factory(**options)`` builds one component. Options
  come from configs (``{type: leaky_relu, alpha: 0.1}``) so they must be keyword arguments with
  JSON-like values.
- ``aliases``: other names for the same component (``silu`` is also ``swish``).

Lifecycle hooks (``on_*``) are called by :func:`nnexp.fit` while training. Trackers, progress
bars and third-party loggers subscribe to them instead of being called by the loop. They
receive a :class:`nnexp.train.Run` (``run.network``, ``run.optimizer``, ``run.loss``,
``run.step``, ``run.epoch``, ``run.history``, ``run.config``) and must not change the network.
"""

from __future__ import annotations

import pluggy

PROJECT = "nnexp"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_activations(register):
    """Contribute activation functions.

    ``factory(**options)`` returns an :class:`nnexp.Activation`: a layer, usually without
    parameters. Subclass it and define ``f(z)`` and ``df(z)`` (element-wise derivative), both
    taking and returning arrays of any shape; the base class supplies forward/backward.
    Non-element-wise activations (softmax) override ``forward(x, training)`` and
    ``backward(grad_out)``, set ``elementwise = False`` and return the Jacobian's diagonal from
    ``df``. An activation with a learnable parameter (PReLU's slope) also creates
    ``params``/``grads`` in ``build(input_shape, ctx)`` and fills ``grads`` in ``backward``,
    as a layer does.

    For the conformance kit (:mod:`nnexp.testing`, ``nnexp check``) a class may declare
    ``check_options`` (dict of options to build an example with, default ``{}``) and ``kinks``
    (tuple of inputs where ``f`` is not differentiable, e.g. ``(0.0,)`` for ReLU), so
    finite-difference checks sample away from them.
    """


@hookspec
def register_losses(register):
    """Contribute loss functions.

    ``factory(**options)`` returns an :class:`nnexp.Loss`. ``forward(y_pred, y_true)``
    takes arrays of shape ``(batch, outputs)`` and returns a Python float;
    ``backward()`` returns dL/dy_pred with ``y_pred``'s shape, for the last forward call.
    The docstring states the reduction (mean over batch; sum or mean over outputs), and the
    gradient is that of the reduced loss (so it already carries the 1/batch factor).

    A loss with ``fuses_with = "softmax"`` (or ``"sigmoid"``) also accepts
    ``forward(logits, y_true, from_logits=True)``; the network then skips that output
    activation while training and the loss works in the numerically stable fused form.

    For the conformance kit: ``check_options`` (dict), ``check_targets`` (``"real"``
    (default), ``"binary"`` for 0/1 or ``"onehot"``) and ``kinks`` (values of
    ``y_pred - y_true`` where the loss is not differentiable, e.g. ``(0.0,)`` for MAE).
    The kit checks that the reduction is a mean over the batch.
    """


@hookspec
def register_layers(register):
    """Contribute layer types.

    ``factory(**options)`` returns an :class:`nnexp.Layer`. Its contract:

    - ``build(input_shape, ctx) -> output_shape``: shapes exclude the batch axis; create
      ``self.params`` (name -> array of ``ctx.dtype``) with ``ctx.rng`` and
      ``ctx.initializer(name)``, and matching zero arrays in ``self.grads``. Raise
      :class:`nnexp.ShapeError` for an input it cannot take, naming what it expects.
    - ``forward(x, training) -> y``: ``x`` is ``(batch, *input_shape)``; cache only what
      backward needs. Never modify ``x``.
    - ``backward(grad_out) -> grad_in``: the gradient w.r.t. the last forward's input; store
      dL/dparam in ``self.grads`` (same keys and shapes as ``self.params``). Never update
      parameters: that is the optimizer's job.
    - ``config() -> dict``: options such that ``factory(**config())`` rebuilds it.

    Set ``batch_independent = False`` on layers whose output for one sample depends on
    the others in training mode (batch normalization), ``stochastic = True`` on layers that
    draw random numbers in training (dropout, which use ``ctx.dropout_rng``). In evaluation
    (``training=False``) a layer draws nothing and changes no buffers: noise is for training.
    Non-trainable state (batchnorm's running statistics) goes in ``self.buffers`` (name ->
    array, updated in place): not in ``params``, so optimizers skip it, but saved and loaded
    with the network (``Network.buffers``).

    For the conformance kit (:mod:`nnexp.testing`, ``nnexp check``): ``check_options``
    (dict of options to build an example with, e.g. ``{"units": 3}`` for dense; required
    when the factory has required options), ``check_input_shape`` (per-sample input shape,
    default ``(5,)``) and ``kinks`` (input values where the layer is not differentiable).
    """


@hookspec
def register_optimizers(register):
    """Contribute optimizers.

    ``factory(lr=..., weight_decay=..., **options)`` returns an :class:`nnexp.Optimizer`.
    Subclass it and define ``update(param, grad, state)``: change ``param`` in place, keep
    per-parameter state (momentum buffers) in the ``state`` dict. ``self.lr`` is read at every
    step, so learning-rate schedules work by setting it. Follow torch.optim's documented
    update formulas so users can compare trajectories with PyTorch. Per-parameter state holds
    numpy arrays and numbers only (checkpoints), never the gradient array itself.

    For the conformance kit: ``check_options``, ``decoupled = True`` when weight decay shrinks
    the weights (AdamW) instead of torch's L2 form, and ``check_reference(theta, grad, state, t,
    **config)``, the documented update written plainly (see :mod:`nnexp.testing.optimizer_checks`).
    """


@hookspec
def register_schedules(register):
    """Contribute learning-rate schedules.

    ``factory(**options)`` returns an :class:`nnexp.Schedule` with
    ``lr_at(epoch, base_lr, epochs) -> float``, called at the start of every epoch
    (epoch counts from 0); it depends on its arguments only.

    For the conformance kit: ``check_points`` (``{(epoch, epochs): lr / base_lr}`` it promises)
    and ``check_max_factor`` (default 1: never above the base lr).
    """


@hookspec
def register_initializers(register):
    """Contribute weight initializers.

    ``factory(**options)`` returns a callable ``init(shape, fan_in, fan_out, rng, dtype)``
    returning a new array of that shape and dtype, drawn only from ``rng``
    (a ``numpy.random.Generator``), its spread taken from the fans (a dense ``W`` is
    ``(n_out, n_in)``: ``fan_in = n_in``), not from the shape.

    For the conformance kit the factory declares ``check_variance(fan_in, fan_out, **options)``
    (required) and ``check_mean`` (default 0): the documented spread of one element.
    """


@hookspec
def register_datasets(register):
    """Contribute datasets.

    ``factory(seed=0, **options)`` returns an :class:`nnexp.Dataset` with train, validation
    and test splits (``X`` of shape ``(n, features)``, ``y`` of shape ``(n, outputs)``; one-hot
    for classification), drawn deterministically from ``seed``. Use
    :func:`nnexp.data.make_splits` for the standard split, standardisation and one-hot options.
    No sample may be in two splits. For the conformance kit the factory may declare
    ``check_options`` (a dict, or a function returning one) for a small example.
    """


@hookspec
def on_run_start(run):
    """Training is about to start: ``run`` holds the network, optimizer, loss and config."""


@hookspec
def on_step_end(run, loss):
    """One optimizer step is done. ``loss`` is the batch loss (float); ``run.step`` counts
    steps from 1; gradients of this step are in ``run.network``'s layers' ``grads``.
    ``run.network.outputs`` holds each layer's output for this batch.
    Called every step: keep it cheap (buffer, do not write)."""


@hookspec
def on_epoch_end(run, epoch, metrics):
    """An epoch is done. ``metrics``: dict such as ``loss``, ``accuracy``, ``val_loss``,
    ``val_accuracy``, ``lr`` (floats). ``epoch`` counts from 1."""


@hookspec
def on_run_end(run, status, error):
    """Training ended. ``status``: ``"FINISHED"``, ``"FAILED"`` (``error`` is the exception)
    or ``"KILLED"`` (interrupted). Called exactly once per run, also on failure."""


@hookspec
def on_checkpoint(run, state):
    """A checkpoint of the run is being taken. A plugin whose behaviour depends on what it saw
    so far (a patience counter, a best value) adds it as ``state[its_name] = {...}`` (JSON-like
    values and numpy arrays) and reads it back from ``run.resume_state["plugins"][its_name]``
    in ``on_run_start`` when the run is resumed, so the resumed run behaves as if never stopped."""


@hookspec
def on_log_metrics(run, metrics, step):
    """A hook or the caller logged ``metrics`` (name -> float) at ``step`` through
    :meth:`nnexp.Run.log_metrics`. Trackers implement this; other plugins call the Run method."""


@hookspec
def on_set_tags(run, tags):
    """Tags (name -> str) were set through :meth:`nnexp.Run.set_tags`. Trackers implement this."""


@hookspec
def on_log_artifact(run, path, artifact_path):
    """A file or directory ``path`` (a ``pathlib.Path``) was logged through
    :meth:`nnexp.Run.log_artifact`, to be kept under ``artifact_path`` (None: the top level).
    Trackers implement this."""
