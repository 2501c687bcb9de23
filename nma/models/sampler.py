"""The only place that runs MCMC, and the convergence gate every fit must pass before it is reported.

A PyMC model is sampled by NUTS (BlackJAX, window adaptation then NUTS, the chains vectorised) on its log density
compiled to JAX. The model's data (its `pm.Data` containers: y, se, r, n, designs, prior parameters) enter the
compiled function as arguments, not as constants folded into the graph, so every fit of the same structure (the
node-splits, UME and prior-sensitivity refits of an analysis, and analyses of the same shape) reuses one compiled
sampler in a process; XLA's persistent compilation cache (`cache_dir()`) carries the compiled code across
processes. JAX on the CPU is deterministic: the same model, data and seed give the same draws, bit for bit.

PyMC, PyTensor, JAX and ArviZ are imported inside the functions that use them, so a run on the exact engine
never loads them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

#: Gate thresholds (Vehtari et al. 2021): rank-normalised R-hat and bulk/tail ESS; any divergence fails.
RHAT_MAX = 1.01
ESS_MIN = 400

LOG = logging.getLogger("nma.sampler")

#: Environment variable that moves the persistent compile cache (default: ~/.cache/nma, or $XDG_CACHE_HOME/nma).
CACHE_ENV = "NMA_CACHE_DIR"


@dataclass(frozen=True)
class SamplerConfig:
    """4 chains x 1000 draws after 1000 adaptation steps: with the conditional parameterisation (normal_pymc.py)
    bulk ESS is about the number of draws for every d and tau, and the binomial model's ESS of d is at least a
    third of it (measured on TSD4 smoking), so every reported quantity has ESS >= 1000 with room.
    `cores` is accepted for old configs; the chains run vectorised in one process."""

    seed: int = 20240611
    chains: int = 4
    draws: int = 1000
    tune: int = 1000
    target_accept: float = 0.95
    cores: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def cache_dir() -> Path:
    """Where compiled samplers persist between processes."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nma"


#: In this process: structure key -> compiled sampler. `TRACES` counts how many samplers were traced and compiled.
_COMPILED: dict[str, object] = {}
TRACES = {"count": 0}


def _configure_jax():
    """Double precision (PyMC's float64 graphs) and the persistent compile cache, set once before the first compile."""
    import jax

    jax.config.update("jax_enable_x64", True)
    if not jax.config.jax_compilation_cache_dir:
        path = cache_dir() / "xla"
        path.mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(path))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    return jax


class _Compiled:
    """One model structure: its log density and its reported variables as JAX functions of (values, data)."""

    def __init__(self, model):
        from pymc.util import get_default_varnames
        from pytensor.compile.sharedvalue import SharedVariable
        from pytensor.graph.replace import clone_replace
        from pytensor.graph.traversal import graph_inputs

        values = list(model.value_vars)
        outputs = list(get_default_varnames(model.unobserved_value_vars, include_transformed=False))
        graph = [model.logp()] + outputs
        shared = [v for v in graph_inputs(graph) if isinstance(v, SharedVariable)]
        self.shared = shared
        self.value_names = [v.name for v in values]
        self.output_names = [v.name for v in outputs]
        inputs = [s.type() for s in shared]
        replaced = clone_replace(graph, replace=dict(zip(shared, inputs)))
        self.key = _structure_key(replaced, [s.name for s in shared])
        self._graphs = (values + inputs, replaced)
        self._runners: dict[tuple, object] = {}

    def _functions(self):
        """The log density and the reported variables as JAX functions (PyTensor's JAX rewrites, then jax_funcify)."""
        from pytensor.compile.mode import JAX
        from pytensor.graph.fg import FunctionGraph
        from pytensor.link.jax.dispatch import jax_funcify

        inputs, graph = self._graphs
        fns = []
        with warnings.catch_warnings():
            # run-time assertions (the binomial's n >= 0, 0 <= p <= 1; shapes broadcasting) are dropped under JAX: the
            # data were validated when the network was built, and the shapes are fixed by the structure
            warnings.filterwarnings("ignore", message="Skipping .* Op", category=UserWarning)
            for outs in ([graph[0]], graph[1:]):
                fgraph = FunctionGraph(inputs=inputs, outputs=outs, clone=True)
                JAX.optimizer.rewrite(fgraph)
                fns.append(jax_funcify(fgraph))
        return fns

    def runner(self, chains: int, tune: int, target_accept: float) -> _Runner:
        """The jitted sampler for these settings (JAX specialises it further on the data's shapes)."""
        statics = (chains, tune, float(target_accept))
        if statics not in self._runners:
            self._runners[statics] = _Runner(*self._functions(), *statics)
        return self._runners[statics]


def _structure_key(graph, shared_names) -> str:
    """What a compiled sampler depends on: the graph's text and every constant in it (data are inputs, not here)."""
    from pytensor.graph.basic import Constant
    from pytensor.graph.traversal import ancestors
    from pytensor.printing import debugprint

    h = hashlib.sha256(debugprint(graph, file="str", print_type=True).encode())
    for v in ancestors(graph):
        if isinstance(v, Constant):
            data = np.asarray(v.data)
            h.update(f"{data.dtype}{data.shape}".encode())
            h.update(data.tobytes())
    h.update(repr(shared_names).encode())
    return h.hexdigest()


#: Draws per call into the compiled sampler: between calls Python runs, so a signal stops the run promptly and the
#: progress bar moves; every draw count reuses the same compiled chunk.
CHUNK = 250


class _Runner:
    """Window adaptation, then NUTS in chunks of CHUNK draws, the chains vectorised; both steps jitted once."""

    def __init__(self, logp_fn, outputs_fn, chains: int, tune: int, target_accept: float):
        jax = _configure_jax()
        import blackjax

        def logdensity_of(data):
            return lambda position: logp_fn(*position, *data)[0]

        def warmup(keys, data, init):
            TRACES["count"] += 1      # runs while JAX traces, i.e. once per compilation

            def one(key, position):
                adapt = blackjax.window_adaptation(blackjax.nuts, logdensity_of(data), target_acceptance_rate=target_accept)
                (state, parameters), _ = adapt.run(key, position, num_steps=tune)
                return state, parameters

            return jax.vmap(one)(keys, init)

        def chunk(keys, data, states, parameters):
            def one(key, state, parameters):
                kernel = blackjax.nuts(logdensity_of(data), **parameters).step

                def step(state, k):
                    state, info = kernel(k, state)
                    return state, (state.position, state.logdensity, info.is_divergent, info.num_integration_steps,
                                   info.acceptance_rate, info.energy)

                state, (positions, lp, divergent, n_steps, accept, energy) = jax.lax.scan(step, state, jax.random.split(key, CHUNK))
                values = jax.vmap(lambda p: outputs_fn(*p, *data))(positions)
                stats = {"lp": lp, "diverging": divergent, "n_steps": n_steps, "acceptance_rate": accept,
                         "energy": energy, "step_size": jax.numpy.full(CHUNK, parameters["step_size"])}
                return state, values, stats

            return jax.vmap(one)(keys, states, parameters)

        self.chains = chains
        self.warmup = jax.jit(warmup)
        self.chunk = jax.jit(chunk)

    def __call__(self, seed: int, draws: int, data, init, progress=None):
        """Draws (chain, draw, ...) of every reported variable, and the sampler's statistics."""
        import jax

        key_warmup, key_draws = jax.random.split(jax.random.PRNGKey(seed))
        states, parameters = self.warmup(jax.random.split(key_warmup, self.chains), data, init)
        values, stats = [], []
        n_chunks = -(-draws // CHUNK)
        for i in range(n_chunks):
            keys = jax.random.split(jax.random.fold_in(key_draws, i), self.chains)
            states, v, st = self.chunk(keys, data, states, parameters)
            values.append(jax.device_get(v))
            stats.append(jax.device_get(st))
            if progress is not None:
                progress(min((i + 1) * CHUNK, draws), draws)
        join = lambda parts: np.concatenate(parts, axis=1)[:, :draws]          # noqa: E731
        return ([join([v[j] for v in values]) for j in range(len(values[0]))],
                {k: join([st[k] for st in stats]) for k in stats[0]})


def compiled_model(model) -> tuple[_Compiled, list]:
    """The compiled form of `model`'s structure (built once per structure in a process) and `model`'s own data
    containers, in the order the compiled functions take them."""
    compiled = _Compiled(model)
    return _COMPILED.setdefault(compiled.key, compiled), compiled.shared


def _initial_points(model, compiled: _Compiled, config: SamplerConfig) -> list[np.ndarray]:
    """PyMC's initial point with uniform(-1, 1) jitter on the unconstrained scale, one per chain, seeded."""
    rng = np.random.default_rng(config.seed)
    point = model.initial_point()
    return [np.stack([np.asarray(point[n], float) + rng.uniform(-1, 1, np.shape(point[n])) for _ in range(config.chains)])
            for n in compiled.value_names]


def sample(model, config: SamplerConfig):
    """NUTS on `model`: ``config.chains`` chains of ``config.draws`` draws after ``config.tune`` adaptation steps.

    Returns an InferenceData with the model's coords and dims, and `sample_stats` (diverging, n_steps, ...).
    Says what it samples on the ``nma`` logger; a progress bar is shown when stderr is a terminal (not under CI)."""
    import arviz as az

    _configure_jax()
    compiled, shared = compiled_model(model)
    data = tuple(np.asarray(s.get_value(borrow=True)) for s in shared)
    init = tuple(_initial_points(model, compiled, config))
    # diagonal mass matrix: on TSD4 smoking a dense one halved the leapfrog steps per draw (27.5 to 15.3) but made
    # each step twice and the adaptation ten times as expensive in BlackJAX (measured 2026-12-02)
    run = compiled.runner(config.chains, config.tune, config.target_accept)
    free = ", ".join(v.name for v in model.free_RVs)
    LOG.info("NUTS: [%s], %d chains x %d draws after %d adaptation steps", free, config.chains, config.draws, config.tune)
    with _progress(config.draws) as progress:
        values, stats = run(config.seed, config.draws, data, init, progress)
    posterior = dict(zip(compiled.output_names, values))
    dims = {name: list(model.named_vars_to_dims.get(name, ())) for name in posterior}
    coords = {k: list(v) for k, v in model.coords.items() if v is not None}
    return az.from_dict(posterior=posterior, sample_stats=stats, coords=coords, dims=dims,
                        attrs={"sampler": "blackjax NUTS (window adaptation)", "structure_key": compiled.key})


@contextmanager
def _progress(total: int):
    """A rich progress bar on a terminal; nothing when stderr is not one, or under CI."""
    if not sys.stderr.isatty() or os.environ.get("CI"):
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("sampling", total=total)
        yield lambda done, _: bar.update(task, completed=done)


def diagnostics(idata, var_names: list[str]) -> tuple[pd.DataFrame, int]:
    """Per scalar parameter: R-hat, bulk and tail ESS, MCSE of the mean; plus the number of divergences."""
    import arviz as az

    rhat = az.rhat(idata, var_names=var_names)
    bulk = az.ess(idata, var_names=var_names, method="bulk")
    tail = az.ess(idata, var_names=var_names, method="tail")
    mcse = az.mcse(idata, var_names=var_names, method="mean")
    rows = []
    for name in var_names:
        r = rhat[name]
        dims = list(r.dims)
        for idx in np.ndindex(r.shape):
            sel = {dim: r[dim].values[i] for dim, i in zip(dims, idx)}
            label = name + ("[" + ",".join(str(v) for v in sel.values()) + "]" if sel else "")
            rows.append({"parameter": label, "r_hat": float(r.values[idx]), "ess_bulk": float(bulk[name].values[idx]),
                         "ess_tail": float(tail[name].values[idx]), "mcse_mean": float(mcse[name].values[idx])})
    div = int(idata["sample_stats"]["diverging"].sum()) if "sample_stats" in idata.groups() else 0
    return pd.DataFrame(rows), div


def mcse_sd(x) -> float:
    """Monte Carlo SE of a posterior SD, by the delta method on the squared deviations and their ESS.

    Computed here because arviz 0.23's ``mcse(method="sd")`` can crash on its numba path with NumPy 2.4.
    For heavy-tailed posteriors (a d whose spread is driven by the tail of tau) it is much larger than the
    MCSE of the mean suggests.
    """
    import arviz as az

    sq = (x - x.mean()) ** 2
    ess = float(az.ess(np.asarray(sq.transpose("chain", "draw"))))
    sd = float(x.std())
    return float(sq.std()) / np.sqrt(ess) / (2 * sd)


def gate(table: pd.DataFrame, divergences: int) -> list[str]:
    """Reasons the fit fails the convergence gate (empty when it passes)."""
    problems = []
    bad = table[~(table["r_hat"] <= RHAT_MAX)]
    if len(bad):
        problems.append(f"R-hat > {RHAT_MAX} for {', '.join(bad['parameter'])} (max {bad['r_hat'].max():.3f})")
    for col in ("ess_bulk", "ess_tail"):
        bad = table[~(table[col] >= ESS_MIN)]
        if len(bad):
            problems.append(f"{col.replace('_', ' ')} < {ESS_MIN} for {', '.join(bad['parameter'])} (min {bad[col].min():.0f})")
    if divergences:
        problems.append(f"{divergences} divergent transition(s)")
    return problems
