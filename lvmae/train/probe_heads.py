"""Probe heads on frozen features: what they compute and how they are fitted, as pure functions.

  linear     multinomial logistic regression on standardised mean-pooled features with an L2
             penalty, fitted full-batch with L-BFGS (optax.lbfgs): deterministic given the data.
  attentive  one learned query cross-attending to the per-token features (multi-head), then
             LayerNorm and a linear classifier (the attentive probe of V-JEPA / VideoPrism),
             trained with AdamW on minibatches drawn from a seeded key.
Labels are (N, heads) integer classes; logits hold each head's classes side by side, as
`lvmae.train.evaluate.split_heads` cuts them; the loss is the sum of the heads' cross-entropies.
Both fits take every train row with a 0/1 weight per row (0: held out, ignored), so that the
held-out fits and the final fit of a run share one compiled solver.
The held-out choice of the regularisation (`held_out_split`, `choose_regularisation`) is here too.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from lvmae.train.evaluate import split_heads

CONVERGED_GRAD_NORM = 1e-5  # L-BFGS stops before `steps` once the gradient is this small
PREDICT_CHUNK = 256         # clips per chunk when the attentive probe predicts


def held_out_split(n: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """(fitting rows, held-out rows) of n rows: a seeded random `share` held out, each sorted."""
  held = int(round(share * n))
  if not 0 < held < n:
    raise ValueError(f"holding out {share} of {n} rows leaves {n - held} to fit and {held} to score")
  order = np.random.default_rng(seed).permutation(n)
  return np.sort(order[held:]), np.sort(order[:held])


def choose_regularisation(held_out_top1: dict[float, float]) -> float:
  """The value with the best held-out top-1; on a tie, the strongest regularisation (largest)."""
  return max(held_out_top1, key=lambda value: (held_out_top1[value], value))


def cross_entropy(logits: jax.Array, labels: jax.Array, heads: tuple[int, ...],
                  weights: jax.Array | None = None) -> jax.Array:
  """The (weighted) mean over rows of the sum over heads of softmax cross-entropy; labels (N, heads)."""
  per_row = sum(optax.softmax_cross_entropy_with_integer_labels(l, labels[:, h])
                for h, l in enumerate(split_heads(logits, heads)))
  return per_row.mean() if weights is None else jnp.sum(weights * per_row) / jnp.sum(weights)


def head_probs(logits: jax.Array, heads: tuple[int, ...]) -> jax.Array:
  """Each head's softmax, side by side (the layout of predictions.npz's `probs`)."""
  return jnp.concatenate([jax.nn.softmax(l, axis=-1) for l in split_heads(logits, heads)], axis=-1)


def top1(probs: np.ndarray, labels: np.ndarray, heads: tuple[int, ...]) -> float:
  """Share of rows whose every head's argmax is its label; labels (N, heads)."""
  predicted = np.stack([p.argmax(-1) for p in split_heads(np.asarray(probs), heads)], -1)
  return float(np.all(predicted == labels, axis=-1).mean())


# ------------------------------------------------------------------------------------------ linear
def standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """(mean, std) per feature of the fitting rows; a constant feature gets std 1."""
  mean, std = x.mean(axis=0), x.std(axis=0)
  return mean, np.where(std > 1e-6, std, 1.0)


def linear_loss(params: dict, x: jax.Array, labels: jax.Array, l2: jax.Array, heads: tuple[int, ...],
                weights: jax.Array | None = None) -> jax.Array:
  """Cross-entropy + (l2 / 2) * ||w||^2 (the bias is not penalised)."""
  logits = x @ params["w"] + params["b"]
  return cross_entropy(logits, labels, heads, weights) + 0.5 * l2 * jnp.sum(params["w"] ** 2)


@functools.partial(jax.jit, static_argnames=("heads", "steps"))
def fit_linear(x: jax.Array, labels: jax.Array, weights: jax.Array, l2: float, *, heads: tuple[int, ...],
               steps: int) -> dict:
  """Minimises `linear_loss` over the rows of weight 1 from zero weights: at most `steps` L-BFGS
  iterations (zoom line search), fewer once the gradient norm is below CONVERGED_GRAD_NORM.
  Returns {"w", "b"}."""
  params = {"w": jnp.zeros((x.shape[1], sum(heads)), jnp.float32), "b": jnp.zeros(sum(heads), jnp.float32)}
  objective = functools.partial(linear_loss, x=x, labels=labels, l2=l2, heads=heads, weights=weights)
  solver = optax.lbfgs()
  value_and_grad = optax.value_and_grad_from_state(objective)

  def step(carry):
    params, state = carry
    value, grad = value_and_grad(params, state=state)
    updates, state = solver.update(grad, state, params, value=value, grad=grad, value_fn=objective)
    return optax.apply_updates(params, updates), state

  def unfinished(carry):
    _, state = carry
    count = optax.tree_utils.tree_get(state, "count")
    grad_norm = optax.tree.norm(optax.tree_utils.tree_get(state, "grad"))
    return (count == 0) | ((count < steps) & (grad_norm >= CONVERGED_GRAD_NORM))

  params, _ = jax.lax.while_loop(unfinished, step, (params, solver.init(params)))
  return params


def linear_probs(params: dict, x: jax.Array, heads: tuple[int, ...]) -> np.ndarray:
  """The posteriors of (standardised) features x under a fitted linear probe."""
  return np.asarray(head_probs(x @ params["w"] + params["b"], heads))


# --------------------------------------------------------------------------------------- attentive
class AttentivePooler(nnx.Module):
  """One learned query cross-attends to the tokens (multi-head) -> LayerNorm -> Linear logits."""

  def __init__(self, width: int, num_heads: int, num_classes: int, *, rngs: nnx.Rngs):
    self.query = nnx.Param(nnx.initializers.normal(0.02)(rngs.params(), (1, 1, width)))
    self.attention = nnx.MultiHeadAttention(num_heads, width, decode=False, rngs=rngs)
    self.norm = nnx.LayerNorm(width, rngs=rngs)
    self.classifier = nnx.Linear(width, num_classes, rngs=rngs)

  def __call__(self, tokens: jax.Array) -> jax.Array:
    """(B, L, D) tokens -> (B, classes) float32 logits."""
    tokens = tokens.astype(jnp.float32)
    query = jnp.broadcast_to(self.query[...], (tokens.shape[0], 1, tokens.shape[-1]))
    pooled = self.attention(query, tokens)[:, 0]
    return self.classifier(self.norm(pooled))


@functools.partial(jax.jit, static_argnames=("graphdef", "heads", "steps", "batch_size", "learning_rate"))
def _train_attentive(graphdef, params, tokens, labels, weights, weight_decay, key, *, heads, steps, batch_size,
                     learning_rate):
  """`steps` AdamW steps (warm-up then cosine decay; kernels decayed) on random minibatches of
  the rows of weight 1 (drawn with replacement)."""
  schedule = optax.warmup_cosine_decay_schedule(0.0, learning_rate, max(1, steps // 10), steps)
  tx = optax.adamw(schedule, weight_decay=weight_decay, mask=lambda p: jax.tree.map(lambda a: a.ndim > 1, p))

  def loss(params, rows):
    return cross_entropy(nnx.merge(graphdef, params)(tokens[rows]), labels[rows], heads)

  def step(i, carry):
    params, opt_state = carry
    rows = jax.random.choice(jax.random.fold_in(key, i), tokens.shape[0], (batch_size,), p=weights)
    updates, opt_state = tx.update(jax.grad(loss)(params, rows), opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  params, _ = jax.lax.fori_loop(0, steps, step, (params, tx.init(params)))
  return params


def fit_attentive(tokens: np.ndarray, labels: np.ndarray, weights: np.ndarray, weight_decay: float, *,
                  heads: tuple[int, ...], num_heads: int, steps: int, batch_size: int, learning_rate: float,
                  seed: int) -> AttentivePooler:
  """An AttentivePooler (initialised from `seed`) trained on the rows of weight 1 of (N, L, D)
  tokens and (N, heads) labels."""
  model = AttentivePooler(tokens.shape[-1], num_heads, sum(heads), rngs=nnx.Rngs(seed))
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  trained = _train_attentive(graphdef, params, jnp.asarray(tokens), jnp.asarray(labels),
                             jnp.asarray(weights, jnp.float32), weight_decay, jax.random.key(seed), heads=heads,
                             steps=steps, batch_size=batch_size, learning_rate=learning_rate)
  return nnx.merge(graphdef, trained, rest)


def attentive_probs(model: AttentivePooler, tokens: np.ndarray, heads: tuple[int, ...]) -> np.ndarray:
  """The posteriors of (N, L, D) tokens, computed PREDICT_CHUNK clips at a time."""
  graphdef, state = nnx.split(model)

  @jax.jit
  def predict(state, tokens):
    model = nnx.merge(graphdef, state)
    return jax.lax.map(lambda clip: head_probs(model(clip[None]), heads)[0], tokens, batch_size=PREDICT_CHUNK)

  return np.asarray(predict(state, jnp.asarray(tokens)))
