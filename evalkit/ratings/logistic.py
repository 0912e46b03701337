"""Penalised logistic regression by Newton's method, vectorised over bootstrap rounds: the one fit
behind the style-controlled ratings (ratings/style.py) and the judge's length-controlled win rate
(judge/stats.py)."""

from __future__ import annotations

import numpy as np

_MAX_NEWTON_STEPS = 100
_STEP_TOLERANCE = 1e-10
_MAX_HALVINGS = 40


def fit_logistic(x: np.ndarray, y: np.ndarray, weights: np.ndarray, penalty: np.ndarray,
                 gauge: np.ndarray | None = None, start: np.ndarray | None = None) -> np.ndarray:
    """Coefficients [rounds, parameters] maximising, for each row of `weights` (the observations'
    multiplicities: a bootstrap resample each), sum w * log-likelihood - sum penalty * beta^2 / 2,
    where P(y=1) = sigmoid(x @ beta) and y may be fractional (a tie is 0.5). gauge: added to every
    Hessian to pin a direction the likelihood leaves free (it must not change a step otherwise).
    start: the point every row starts from.

    Damped Newton, every row of `weights` at once. Each observation's x x^T is formed once, so a round's
    Hessian is one matrix product with its curvatures (the cost of a step is a few passes over
    rounds x observations)."""
    n, size = x.shape
    outer = (x[:, :, None] * x[:, None, :]).reshape(n, size * size)
    beta = np.zeros((weights.shape[0], size)) if start is None else np.repeat(start[None], len(weights), axis=0)
    z = beta @ x.T
    objective = _objective(z, y, weights, penalty, beta)
    for _ in range(_MAX_NEWTON_STEPS):
        p = _sigmoid(z)
        gradient = ((y - p) * weights) @ x - penalty * beta
        hessian = ((weights * p * (1.0 - p)) @ outer).reshape(-1, size, size) + np.diag(penalty)
        if gauge is not None:
            hessian += gauge
        step = np.linalg.solve(hessian, gradient[..., None])[..., 0]
        beta, z, objective = _damped(x, y, weights, penalty, beta, objective, step)
        if np.abs(step).max() < _STEP_TOLERANCE:
            break
    return beta


def _damped(x, y, weights, penalty, beta, objective, step):
    """Halve a round's step until its penalised likelihood does not drop (as bt.py does)."""
    scale = np.ones(len(beta))
    for _ in range(_MAX_HALVINGS):
        candidate = beta + scale[:, None] * step
        z = candidate @ x.T
        new = _objective(z, y, weights, penalty, candidate)
        worse = new < objective - 1e-12 * np.abs(objective)
        if not worse.any():
            break
        scale[worse] /= 2
    return candidate, z, new


def _objective(z, y, weights, penalty, beta) -> np.ndarray:
    """Penalised log-likelihood; log(1 - sigmoid z) = log sigmoid z - z saves a second logarithm."""
    log_p = np.minimum(z, 0.0) - np.log1p(np.exp(-np.abs(z)))  # log sigmoid z, stable and faster than logaddexp
    return (weights * (log_p - (1.0 - y) * z)).sum(axis=1) - 0.5 * (penalty * beta**2).sum(axis=1)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))
