"""Index selection over the whole workload: a greedy in the spirit of Extend (Schlosser et al.).

Start from no new index; at each step take the best of adding a candidate (single- or
multi-column) or widening an already chosen index by one column, re-costing the workload
with the current set so interactions between indexes count. A step is scored by its net
benefit (weighted cost saved minus write overhead) per byte, or in full when only the number
of indexes is limited. A step
must save both a share of the cost of the statements it speeds up and an absolute amount,
and may not make any statement slower than it is today. Candidates are evaluated lazily:
a step's previous score bounds its next one, so most need no new planner call.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from prodready.advisor.analysis import TableName
from prodready.advisor.candidates import Candidate, IndexKey
from prodready.advisor.whatif import PlanCost

CostFn = Callable[[frozenset[Candidate]], Mapping[int, PlanCost]]
SMALLEST_SIZE = 8192  # a one-page index still costs a page: keeps ratios finite
SLOWER_TOLERANCE = 0.02  # planner noise: 2% (and one cost unit) is not "slower"
SLOWER_ABSOLUTE = 1.0
COMPANIONS_TRIED = 5  # candidates tried alongside a step that would slow a statement
# the pruning pass: an index whose removal costs less than this share of the workload (under
# the chosen set) is not worth its writes and disk; a slimmer index within this share of a
# wide one's net benefit replaces it
PRUNE_SHARE = 0.02
NARROW_TOLERANCE = 0.05
DECISIVE_RATIO = 2.0
# size estimates land within about ±7% of the built index (TPC-H SF1, bench/results): planning
# to 94% of a budget keeps the real indexes inside it
SIZE_MARGIN = 0.06


@dataclass(frozen=True)
class Limits:
    budget_bytes: int | None = None
    max_indexes: int | None = None
    min_relative_saving: float = 0.05
    min_absolute_saving: float = 0.0
    tolerance: float = SLOWER_TOLERANCE
    # and a floor on the whole workload: a saving below this share is not worth the writes
    min_workload_share: float = 0.0
    prune_share: float = PRUNE_SHARE
    slim: bool = True  # trade up to NARROW_TOLERANCE of a wide index's benefit for its bytes

    @property
    def planning_budget(self) -> float | None:
        """The budget the estimates are held to, leaving room for their error."""
        return None if self.budget_bytes is None else self.budget_bytes * (1 - SIZE_MARGIN)


@dataclass
class Workload:
    """Statement ids with their weights (calls) and the tables each reads or writes."""

    weights: dict[int, float]
    tables: dict[int, frozenset[TableName]]

    def total(self, costs: Mapping[int, PlanCost]) -> float:
        return sum(self.weights[s] * costs[s].cost for s in self.weights)


@dataclass(frozen=True)
class Step:
    index: Candidate
    replaces: Candidate | None
    benefit: float  # weighted cost saved by the step
    write_cost: float
    size_delta: int
    companion: Candidate | None = None  # taken together: it keeps a statement from slowing

    @property
    def added(self) -> list[Candidate]:
        return [self.index] if self.companion is None else [self.index, self.companion]


@dataclass(frozen=True)
class LeftOut:
    """A good-looking index not recommended, and why (`statement`: the one it would slow)."""

    index: Candidate
    why: str
    statement: int | None = None


@dataclass
class Selection:
    chosen: list[Candidate]
    base: Mapping[int, PlanCost]
    final: Mapping[int, PlanCost]
    steps: list[Step] = field(default_factory=list)
    left_out: list[LeftOut] = field(default_factory=list)


@dataclass
class Problem:
    """Everything the greedy needs; the engine passes HypoPG-backed functions, tests fakes."""

    workload: Workload
    candidates: list[Candidate]
    cost: CostFn
    size: Callable[[Candidate], int]
    write_cost: Callable[[Candidate], float] = lambda c: 0.0
    widen: Callable[[Candidate], Iterable[Candidate]] = lambda c: ()
    narrow: Callable[[Candidate], Iterable[Candidate]] = lambda c: ()
    ordered: Callable[[Candidate], Iterable[Candidate]] = lambda c: ()
    limits: Limits = field(default_factory=Limits)
    progress: Callable[[str], None] = lambda message: None


def select(problem: Problem) -> Selection:
    """Choose indexes greedily, then drop any that slow a statement or no longer pay off."""
    base = problem.cost(frozenset())
    greedy = _Greedy(problem, base)
    greedy.run()
    rescues = _Rescues(problem, base, greedy.scores)
    chosen = _never_slower(problem, base, greedy.chosen, greedy.left_out, rescues)
    chosen = _prune(problem, base, chosen, greedy.left_out)
    chosen = _slimmed(problem, base, chosen, greedy.left_out)
    chosen = _completed(problem, base, chosen)
    chosen = _never_slower(problem, base, chosen, greedy.left_out, rescues)
    final = problem.cost(frozenset(chosen))
    return Selection(chosen, base, final, greedy.steps, greedy.left_out + greedy.risky(chosen))


@dataclass(order=True)
class _Queued:
    priority: float  # negated score: heapq pops the smallest
    order: int
    index: Candidate = field(compare=False)
    replaces: Candidate | None = field(compare=False)


@dataclass
class _Evaluated:
    score: float
    step: Step | None  # None: not acceptable now


class _Greedy:
    def __init__(self, problem: Problem, base: Mapping[int, PlanCost]) -> None:
        self.problem = problem
        self.limits = problem.limits
        self.base = base
        self.current = base
        self.chosen: list[Candidate] = []
        self.steps: list[Step] = []
        self.left_out: list[LeftOut] = []
        self.risks: dict[Candidate, tuple[float, LeftOut]] = {}
        self.used_bytes = 0
        self.counter = itertools.count()
        self.queue: list[_Queued] = []
        self.scores: dict[Candidate, float] = {}
        # benefit per byte (Extend's measure) unless the number of indexes is what is scarce
        limits = problem.limits
        self.per_byte = limits.budget_bytes is not None or limits.max_indexes is None
        for candidate in problem.candidates:
            self.push(candidate, None, float("inf"))

    def push(self, index: Candidate, replaces: Candidate | None, score: float) -> None:
        heapq.heappush(self.queue, _Queued(-score, next(self.counter), index, replaces))

    def run(self) -> None:
        while True:
            step = self.next_step()
            if step is None:
                return
            self.apply(step)

    def next_step(self) -> Step | None:
        """Lazy greedy: re-score queued options best-first until none can beat the best."""
        best: tuple[float, Step] | None = None
        parked: list[_Queued] = []
        while self.queue:
            item = heapq.heappop(self.queue)
            if best is not None and -item.priority <= best[0]:
                heapq.heappush(self.queue, item)
                break
            if not self.still_valid(item):
                continue
            evaluated = self.evaluate(item.index, item.replaces)
            parked.append(_Queued(-evaluated.score, item.order, item.index, item.replaces))
            if evaluated.step is not None and (best is None or evaluated.score > best[0]):
                best = (evaluated.score, evaluated.step)
        for item in parked:
            heapq.heappush(self.queue, item)
        return best[1] if best else None

    def still_valid(self, item: _Queued) -> bool:
        if item.index in self.chosen:
            return False
        if item.replaces is None and any(
            _serves(c, item.index) or _subsumes(c, item.index) for c in self.chosen
        ):
            return False  # a chosen index already leads with these keys, or is its twin
        return item.replaces is None or item.replaces in self.chosen

    def evaluate(self, index: Candidate, replaces: Candidate | None) -> _Evaluated:
        limits = self.limits
        if replaces is None:
            # a wider twin of a chosen index takes its place rather than sitting beside it
            replaces = next((c for c in self.chosen if _subsumes(index, c)), None)
        config = frozenset([*(c for c in self.chosen if c != replaces), index])
        costs = self.problem.cost(config)
        companion = None
        regressed = slower(self.problem.workload, self.base, costs, limits.tolerance)
        alone = costs
        if regressed:
            # the step would slow a statement: take it only with an index that prevents that
            paired = self.companion(config)
            if paired is None:
                self.note_risk(index, alone, regressed[0])
                return self.scored(_Evaluated(float("-inf"), None), index)
            companion, costs = paired
        added = [index] if companion is None else [index, companion]
        size_delta = sum(self.problem.size(c) for c in added)
        write = sum(self.problem.write_cost(c) for c in added)
        if replaces is not None:
            size_delta -= self.problem.size(replaces)
            write -= self.problem.write_cost(replaces)
        if not self.fits(len(added) - (1 if replaces else 0), size_delta):
            if regressed:  # it needs a companion there is no room for
                self.note_risk(index, alone, regressed[0])
            return self.scored(_Evaluated(float("-inf"), None), index)
        workload = self.problem.workload
        tables = {c.table for c in added}
        touched = [s for s, on in workload.tables.items() if on & tables]
        benefit = sum(workload.weights[s] * (self.current[s].cost - costs[s].cost) for s in touched)
        net = benefit - write
        score = net / max(size_delta, SMALLEST_SIZE) if self.per_byte else net
        helped = [s for s in touched if costs[s].cost < self.current[s].cost]
        if not self.pays_off(helped, net):
            return self.scored(_Evaluated(score, None), index)
        step = Step(index, replaces, benefit, write, size_delta, companion)
        return self.scored(_Evaluated(score, step), index)

    def fits(self, more_indexes: int, more_bytes: int) -> bool:
        limits = self.limits
        if limits.max_indexes is not None and len(self.chosen) + more_indexes > limits.max_indexes:
            return False
        budget = limits.planning_budget
        return budget is None or self.used_bytes + more_bytes <= budget

    def note_risk(self, index: Candidate, costs: Mapping[int, PlanCost], statement: int) -> None:
        """Remember a tempting index refused because it could slow `statement`."""
        workload = self.problem.workload
        gain = sum(w * (self.current[s].cost - costs[s].cost) for s, w in workload.weights.items())
        ratio = costs[statement].worst / max(self.base[statement].cost, 1e-9)
        why = (
            f"it could make a statement up to {ratio:,.1f}x as costly as today (an ORDER BY "
            "... LIMIT that would depend on where matching rows sit in the index)"
        )
        if gain > self.risks.get(index, (0.0, None))[0]:
            self.risks[index] = (gain, LeftOut(index, why, statement))

    def risky(self, chosen: list[Candidate], shown: int = 3) -> list[LeftOut]:
        """The most tempting refused indexes that the chosen set does not already cover."""
        found = [
            (gain, left)
            for index, (gain, left) in self.risks.items()
            if index not in chosen and not any(_subsumes(c, index) for c in chosen)
        ]
        found.sort(key=lambda item: (-item[0], item[1].index.label()))
        reported: list[LeftOut] = []
        seen: set[tuple[str, ...]] = set()
        for _, left in found:
            columns = tuple(k.expr for k in left.index.keys)  # one line per column list
            if columns not in seen and len(reported) < shown:
                seen.add(columns)
                reported.append(left)
        return reported

    def scored(self, evaluated: _Evaluated, index: Candidate) -> _Evaluated:
        self.scores[index] = evaluated.score
        return evaluated

    def companion(
        self, config: frozenset[Candidate]
    ) -> tuple[Candidate, Mapping[int, PlanCost]] | None:
        """The most promising candidate that, added too, keeps every statement from slowing.

        The pair must be worth more than the companion alone: an index that only rides
        along (the companion does all the work) is not taken.
        """
        workload = self.problem.workload
        costs = self.problem.cost(config)
        regressed = slower(workload, self.base, costs, self.limits.tolerance)
        tables = {t for s in regressed for t in workload.tables[s]}
        options = [c for c in self.problem.candidates if c.table in tables and c not in config]
        options.sort(key=lambda c: -self.scores.get(c, 0.0))
        primary = config - frozenset(self.chosen)
        for option in options[:COMPANIONS_TRIED]:
            paired = self.problem.cost(config | {option})
            if slower(workload, self.base, paired, self.limits.tolerance):
                continue
            alone = self.problem.cost((config - primary) | {option})
            own = workload.total(alone) - workload.total(paired)
            own -= sum(self.problem.write_cost(c) for c in primary)
            helped = [s for s in workload.weights if paired[s].cost < alone[s].cost]
            if self.pays_off(helped, own):
                return option, paired
        return None

    def pays_off(self, helped: list[int], net: float) -> bool:
        return _pays_off(self.problem, self.base, self.current, helped, net)

    def apply(self, step: Step) -> None:
        if step.replaces is not None:
            self.chosen.remove(step.replaces)
        self.chosen.extend(step.added)
        self.used_bytes += step.size_delta
        self.steps.append(step)
        self.current = self.problem.cost(frozenset(self.chosen))
        verb = f"widened {step.replaces.label()} to" if step.replaces else "added"
        also = f" with {step.companion.label()}" if step.companion else ""
        self.problem.progress(f"{verb} {step.index.label()}{also} (saves {step.benefit:,.0f})")
        for index in step.added:
            for wider in self.problem.widen(index):
                if wider not in self.chosen:
                    self.push(wider, index, float("inf"))


def _subsumes(wide: Candidate, narrow: Candidate) -> bool:
    """`wide` does all `narrow` does: same predicate, its keys first, its INCLUDE columns."""
    columns = {k.expr for k in wide.keys} | set(wide.include)
    return (
        wide != narrow
        and wide.table == narrow.table
        and wide.method == narrow.method == "btree"
        and wide.predicate == narrow.predicate
        and _leads(wide.keys, narrow.keys, any_last_direction=True)
        and set(narrow.include) <= columns
    )


def _serves(chosen: Candidate, wanted: Candidate) -> bool:
    """A chosen plain b-tree whose keys start with all of `wanted`'s, same predicate."""
    return (
        chosen.table == wanted.table
        and chosen.method == wanted.method == "btree"
        and chosen.predicate == wanted.predicate
        and not wanted.include
        and _leads(chosen.keys, wanted.keys)
    )


def _leads(
    keys: tuple[IndexKey, ...], first: tuple[IndexKey, ...], any_last_direction: bool = False
) -> bool:
    """`keys` start with `first`, or with `first` in reverse order throughout: a b-tree is
    read backwards as cheaply, so (a, b DESC) and (a DESC, b) serve the same scans.

    `any_last_direction`: also when only the direction of `first`'s last key differs, as
    (s, t) and (s, t DESC) do, which serve `s = $1 ORDER BY t` alike. Only for proposing a
    replacement, which the greedy then costs: an ORDER BY s, t needs the exact directions.
    """
    head = keys[: len(first)]
    if head == first or head == tuple(k.flipped() for k in first):
        return True
    return (
        any_last_direction
        and len(head) == len(first) > 0
        and head[:-1] == first[:-1]
        and head[-1].plain() == first[-1].plain()
    )


def slower(
    workload: Workload,
    base: Mapping[int, PlanCost],
    costs: Mapping[int, PlanCost],
    tolerance: float = SLOWER_TOLERANCE,
) -> list[int]:
    """Statements whose worst-case cost under `costs` exceeds today's (beyond noise)."""
    return [
        s
        for s in workload.weights
        if costs[s].worst > base[s].cost * (1 + tolerance) + SLOWER_ABSOLUTE
    ]


def _never_slower(
    problem: Problem,
    base: Mapping[int, PlanCost],
    chosen: list[Candidate],
    left_out: list[LeftOut],
    rescues: _Rescues | None = None,
) -> list[Candidate]:
    """Re-cost every statement under the final set. A statement it could make slower gets,
    when one fits, the index that serves it better (the planner then leaves the risky one
    to the statements it was chosen for); otherwise the index to blame goes."""
    chosen = list(chosen)
    workload = problem.workload
    while chosen:
        costs = problem.cost(frozenset(chosen))
        regressed = slower(workload, base, costs, problem.limits.tolerance)
        if not regressed:
            break
        statement = regressed[0]
        rescue = rescues.find(chosen, statement) if rescues is not None else None
        if rescue is not None:
            chosen.append(rescue)
            continue
        culprits = [c for c in chosen if c in costs[statement].used] or chosen[-1:]
        # drop the culprit whose removal loses the least
        loss = {c: _leave_one_out(problem, chosen, c, costs) for c in culprits}
        culprit = min(culprits, key=lambda c: loss[c])
        chosen.remove(culprit)
        ratio = costs[statement].worst / max(base[statement].cost, 1e-9)
        why = f"with the rest of the set it could make a statement {ratio:,.1f}x as costly"
        left_out.append(LeftOut(culprit, why, statement))
    return chosen


class _Rescues:
    """Indexes that keep a statement from slowing under the final set, tried best first."""

    def __init__(
        self, problem: Problem, base: Mapping[int, PlanCost], scores: Mapping[Candidate, float]
    ) -> None:
        self.problem = problem
        self.base = base
        self.scores = scores

    def find(self, chosen: list[Candidate], statement: int) -> Candidate | None:
        problem, workload = self.problem, self.problem.workload
        tables = workload.tables[statement]
        options = [c for c in problem.candidates if c.table in tables and c not in chosen]
        options.sort(key=lambda c: -self.scores.get(c, float("-inf")))
        limits = problem.limits
        if limits.max_indexes is not None and len(chosen) + 1 > limits.max_indexes:
            return None
        used = sum(problem.size(c) for c in chosen)
        before = workload.total(problem.cost(frozenset(chosen)))
        best: tuple[float, Candidate] | None = None
        for option in options[:COMPANIONS_TRIED]:
            budget = limits.planning_budget
            if budget is not None and used + problem.size(option) > budget:
                continue
            costs = problem.cost(frozenset([*chosen, option]))
            if slower(workload, self.base, costs, limits.tolerance):
                continue
            total = workload.total(costs) + problem.write_cost(option)
            if total < before and (best is None or total < best[0]):
                best = (total, option)
        return None if best is None else best[1]


def _prune(
    problem: Problem,
    base: Mapping[int, PlanCost],
    chosen: list[Candidate],
    left_out: list[LeftOut],
) -> list[Candidate]:
    """Drop indexes that later choices made pointless (their own saving no longer pays)."""
    chosen = list(chosen)
    limits = problem.limits
    changed = True
    while changed and chosen:
        changed = False
        costs = problem.cost(frozenset(chosen))
        for index in reversed(chosen):
            without = problem.cost(frozenset(c for c in chosen if c != index))
            workload = problem.workload
            if slower(workload, base, without, problem.limits.tolerance):
                continue  # it keeps a statement from slowing: it stays
            gain = workload.total(without) - workload.total(costs)
            net = gain - problem.write_cost(index)
            helped = [s for s in workload.weights if costs[s].cost < without[s].cost]
            if not _pays_off(problem, base, without, helped, net):
                why = "the other chosen indexes already give its benefit"
            elif net < limits.prune_share * workload.total(costs) and not _decisive(
                workload, costs, without
            ):
                why = (
                    f"it saves {net / max(workload.total(costs), 1e-9):.1%} of the workload's "
                    f"cost with the other indexes in place (under {limits.prune_share:.0%}) "
                    "and no statement depends on it: not worth its writes and disk"
                )
            else:
                continue
            chosen.remove(index)
            left_out.append(LeftOut(index, why))
            changed = True
            break
    return chosen


def _completed(
    problem: Problem, base: Mapping[int, PlanCost], chosen: list[Candidate]
) -> list[Candidate]:
    """Give an equality index the ORDER BY keys of the pages it serves, (tenant) ->
    (tenant, created_at DESC), when that is cheap, slows nothing and costs the workload
    nothing: the risk-free shape for every tenant, light or heavy."""
    chosen = list(chosen)
    workload = problem.workload
    for index in list(chosen):
        costs = problem.cost(frozenset(chosen))
        if not any(index in costs[s].used for s in workload.weights):
            continue
        budget = problem.limits.planning_budget
        used = sum(problem.size(c) for c in chosen)
        for fuller in problem.ordered(index):  # the engine offers only forms cheap enough
            if fuller in chosen:
                continue
            grown = used + problem.size(fuller) - problem.size(index)
            if budget is not None and grown > budget:
                continue
            trial = [fuller if c == index else c for c in chosen]
            after = problem.cost(frozenset(trial))
            if slower(workload, base, after, problem.limits.tolerance):
                continue
            if workload.total(after) <= workload.total(costs) * (1 + problem.limits.tolerance):
                chosen = trial
                break
    return chosen


def _decisive(
    workload: Workload, costs: Mapping[int, PlanCost], without: Mapping[int, PlanCost]
) -> bool:
    """Some statement would cost twice as much without the index: its only fast path, kept
    however small a share of the workload that statement is."""
    return any(
        without[s].cost > DECISIVE_RATIO * max(costs[s].cost, 1e-9) for s in workload.weights
    )


def _slimmed(
    problem: Problem,
    base: Mapping[int, PlanCost],
    chosen: list[Candidate],
    left_out: list[LeftOut],
) -> list[Candidate]:
    """Replace each wide index by a slimmer form that keeps its net benefit within
    NARROW_TOLERANCE, slows nothing and is smaller: fewer bytes, fewer writes."""
    chosen = list(chosen)
    workload = problem.workload
    if not problem.limits.slim:
        return chosen
    for index in list(chosen):
        others = [c for c in chosen if c != index]
        without = workload.total(problem.cost(frozenset(others)))
        wide = without - workload.total(problem.cost(frozenset(chosen)))
        wide -= problem.write_cost(index)
        for slim in problem.narrow(index):
            if slim in chosen or problem.size(slim) >= problem.size(index):
                continue
            costs = problem.cost(frozenset([*others, slim]))
            if slower(workload, base, costs, problem.limits.tolerance):
                continue
            net = without - workload.total(costs) - problem.write_cost(slim)
            if net >= (1 - NARROW_TOLERANCE) * wide:
                chosen[chosen.index(index)] = slim
                left_out.append(
                    LeftOut(index, f"{slim.label()} does as much for less disk and fewer writes")
                )
                break
    return chosen


def _pays_off(
    problem: Problem,
    base: Mapping[int, PlanCost],
    current: Mapping[int, PlanCost],
    helped: list[int],
    net: float,
) -> bool:
    """An absolute saving, a share of what the helped statements cost, a workload floor.

    The floor is a share of the workload as it stands at this step, not as it was: one
    statement the planner costs enormously (a row-level security subquery charged on every
    row of a sequential scan) must not, once fixed, hide every other saving.
    """
    cost = sum(problem.workload.weights[s] * current[s].cost for s in helped)
    limits = problem.limits
    return (
        net > 0
        and net >= limits.min_absolute_saving
        and net >= limits.min_relative_saving * cost
        and net >= limits.min_workload_share * problem.workload.total(current)
    )


def _leave_one_out(
    problem: Problem, chosen: list[Candidate], index: Candidate, costs: Mapping[int, PlanCost]
) -> float:
    """Weighted cost the workload would lose without `index`, the rest of the set kept."""
    without = problem.cost(frozenset(c for c in chosen if c != index))
    return problem.workload.total(without) - problem.workload.total(costs)
