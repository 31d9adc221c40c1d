"""The greedy selection, driven by a fake planner: a plain function from a set of indexes to
per-statement costs (no database)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from prodready.advisor.analysis import TableName
from prodready.advisor.candidates import Candidate, IndexKey, extended, make, narrower
from prodready.advisor.selection import (
    LeftOut,
    Limits,
    Problem,
    Workload,
    _never_slower,
    _Rescues,
    _subsumes,
    select,
)
from prodready.advisor.whatif import PlanCost

T = TableName("public", "t")
U = TableName("public", "u")
MB = 1024 * 1024


def idx(*columns: str, table: TableName = T) -> Candidate:
    return make(table, [IndexKey(c) for c in columns])


def planner(
    base: dict[int, float],
    effects: dict[Candidate, dict[int, float]],
    *,
    worst: dict[Candidate, dict[int, float]] | None = None,
    together: dict[frozenset[Candidate], dict[int, float]] | None = None,
    calls: list[frozenset[Candidate]] | None = None,
) -> Callable[[frozenset[Candidate]], Mapping[int, PlanCost]]:
    """Each statement costs the cheapest of its base and what any chosen index gives it;
    `together` gives costs only reachable with several indexes; `worst` a risky bound."""

    def cost(config: frozenset[Candidate]) -> dict[int, PlanCost]:
        if calls is not None:
            calls.append(config)
        found = {}
        for statement, today in base.items():
            best, used, bound = today, frozenset[Candidate](), today
            for index in config:
                value = effects.get(index, {}).get(statement)
                if value is not None and value < best:
                    best, used = value, frozenset({index})
                    bound = (worst or {}).get(index, {}).get(statement, value)
            for group, values in (together or {}).items():
                value = values.get(statement)
                if group <= config and value is not None and value < best:
                    best, used, bound = value, group, value
            found[statement] = PlanCost(best, max(best, bound), used)
        return found

    return cost


def problem(
    base: dict[int, float],
    effects: dict[Candidate, dict[int, float]],
    *,
    weights: dict[int, float] | None = None,
    sizes: dict[Candidate, int] | None = None,
    writes: dict[Candidate, float] | None = None,
    limits: Limits | None = None,
    narrow: Callable[[Candidate], list[Candidate]] = lambda c: [],
    candidates: list[Candidate] | None = None,
    ordered: Callable[[Candidate], list[Candidate]] = lambda c: [],
    **planner_kw: object,
) -> Problem:
    weights = weights or dict.fromkeys(base, 1.0)
    tables = {s: frozenset({T, U}) for s in base}
    return Problem(
        workload=Workload(weights, tables),
        candidates=list(effects) if candidates is None else candidates,
        cost=planner(base, effects, **planner_kw),  # type: ignore[arg-type]
        size=lambda c: (sizes or {}).get(c, MB),
        write_cost=lambda c: (writes or {}).get(c, 0.0),
        narrow=narrow,
        ordered=ordered,
        limits=limits or Limits(min_absolute_saving=0.0),
    )


def test_greedy_takes_the_biggest_saving_first_and_stops_when_nothing_pays() -> None:
    a, b, c = idx("a"), idx("b"), idx("c")
    found = select(problem({1: 1000, 2: 500}, {a: {1: 100}, b: {2: 50}, c: {1: 990}}))
    assert found.chosen == [a, b]
    assert [s.index for s in found.steps] == [a, b]
    assert found.final[1].cost == 100 and found.final[2].cost == 50


def test_a_34_percent_saving_is_taken_where_a_50_percent_threshold_would_not() -> None:
    join = idx("order_id")
    found = select(problem({1: 1000.0}, {join: {1: 660.0}}))
    assert found.chosen == [join]
    dexter = Limits(min_relative_saving=0.5)
    assert select(problem({1: 1000.0}, {join: {1: 660.0}}, limits=dexter)).chosen == []


def test_relative_saving_is_measured_against_the_statements_on_its_table() -> None:
    small = idx("a")
    # 3% of the cost of the statements on the table: below a 5% threshold
    assert (
        select(
            problem({1: 1000.0}, {small: {1: 970.0}}, limits=Limits(min_relative_saving=0.05))
        ).chosen
        == []
    )
    assert select(
        problem({1: 1000.0}, {small: {1: 970.0}}, limits=Limits(min_relative_saving=0.0))
    ).chosen == [small]


def test_absolute_saving_threshold_uses_weights() -> None:
    a = idx("a")
    limits = Limits(min_relative_saving=0.0, min_absolute_saving=500.0)
    assert select(problem({1: 100.0}, {a: {1: 10.0}}, limits=limits)).chosen == []
    heavy = problem({1: 100.0}, {a: {1: 10.0}}, weights={1: 10.0}, limits=limits)
    assert select(heavy).chosen == [a]


def test_write_overhead_that_outweighs_the_gain_blocks_the_index() -> None:
    a, b = idx("a"), idx("b")
    found = select(
        problem({1: 1000.0, 2: 1000.0}, {a: {1: 500.0}, b: {2: 500.0}}, writes={a: 600.0, b: 100.0})
    )
    assert found.chosen == [b]
    assert found.steps[0].write_cost == 100.0


def test_budget_prefers_benefit_per_byte_and_is_never_exceeded() -> None:
    big, small1, small2 = idx("big"), idx("s1"), idx("s2")
    sizes = {big: 10 * MB, small1: 3 * MB, small2: 3 * MB}
    effects = {big: {1: 100.0, 2: 100.0}, small1: {1: 300.0}, small2: {2: 300.0}}
    found = select(
        problem(
            {1: 1000.0, 2: 1000.0},
            effects,
            sizes=sizes,
            limits=Limits(budget_bytes=8 * MB, min_relative_saving=0.0),
        )
    )
    assert set(found.chosen) == {small1, small2}
    assert sum(sizes[c] for c in found.chosen) <= 8 * MB
    unlimited = select(problem({1: 1000.0, 2: 1000.0}, effects, sizes=sizes))
    assert unlimited.chosen == [big]


def test_max_indexes() -> None:
    effects = {idx(name): {n: 10.0} for n, name in enumerate("abcd", 1)}
    base = {1: 1000.0, 2: 900.0, 3: 800.0, 4: 700.0}
    found = select(problem(base, effects, limits=Limits(max_indexes=2, min_relative_saving=0)))
    assert found.chosen == [idx("a"), idx("b")]


def test_an_index_that_could_make_a_statement_slower_is_not_taken() -> None:
    """(created_at) is great for the hot query but risks the other one: its worst case
    (an ordered scan reading the whole table) is above what that statement costs today."""
    created, composite = idx("created_at"), idx("buyer_id", "created_at")
    effects = {created: {1: 1.0, 2: 300.0}, composite: {2: 5.0}}
    risky = {created: {2: 5000.0}}
    one = select(
        problem(
            {1: 2000.0, 2: 1000.0},
            effects,
            weights={1: 100.0, 2: 1.0},
            worst=risky,
            limits=Limits(max_indexes=1, min_relative_saving=0.0),
        )
    )
    assert one.chosen == [composite]
    assert one.final[2].worst <= 1000.0
    assert [(x.index, x.statement) for x in one.left_out] == [(created, 2)]
    # with room for two, the composite takes statement 2 off the risky plan first
    two = select(problem({1: 2000.0, 2: 1000.0}, effects, weights={1: 100.0, 2: 1.0}, worst=risky))
    assert set(two.chosen) == {created, composite}
    assert two.final[2].cost == 5.0


def test_extend_widens_a_chosen_index() -> None:
    a = idx("a")
    ab = extended(a, IndexKey("b"))
    prob = problem({1: 1000.0, 2: 1000.0}, {a: {1: 400.0}, ab: {1: 100.0, 2: 200.0}})
    prob.candidates = [a]  # (a, b) is only reachable by widening (a)
    prob.widen = lambda c: [extended(c, IndexKey("b"))] if c == a else []
    found = select(prob)
    assert found.chosen == [ab]
    assert found.steps[1].replaces == a


def test_interacting_indexes_are_found_after_their_partner() -> None:
    left, right = idx("l"), idx("r", table=U)
    found = select(
        problem(
            {1: 1000.0, 2: 800.0},
            {left: {2: 100.0}, right: {}},
            together={frozenset({left, right}): {1: 10.0}},
        )
    )
    assert set(found.chosen) == {left, right}
    assert found.final[1].cost == 10.0


def test_indexes_made_pointless_by_later_ones_are_pruned() -> None:
    narrow, wide = idx("a"), idx("a", "b")
    effects = {narrow: {1: 500.0}, wide: {1: 400.0, 2: 100.0}}
    found = select(problem({1: 1000.0, 2: 1000.0}, effects, sizes={narrow: MB, wide: 2 * MB}))
    assert found.chosen == [wide]


def test_lazy_evaluation_saves_cost_calls() -> None:
    effects = {idx(f"c{n}"): {n: 1000.0 - n} for n in range(30)}
    base = {n: 1000.0 for n in range(30)}
    effects[idx("best")] = {n: 10.0 for n in range(30)}
    calls: list[frozenset[Candidate]] = []
    found = select(problem(base, effects, limits=Limits(min_relative_saving=0.0), calls=calls))
    assert found.chosen[0] == idx("best")
    # 31 first evaluations, then only the options whose bound can still beat the best
    assert len(calls) < 31 * 2 + 10


def test_a_risky_index_does_not_ride_along_with_the_companion_doing_all_the_work() -> None:
    """(created_at) helps no statement once (product_id, created_at) exists, and alone it
    would slow statement 1: it must not come in as a pair, nor be left behind by pruning."""
    created, composite = idx("created_at"), idx("product_id", "created_at")
    found = select(
        problem(
            {1: 500.0},
            {created: {1: 270.0}, composite: {1: 260.0}},
            worst={created: {1: 1200.0}},
        )
    )
    assert found.chosen == [composite]
    assert found.final[1].worst <= 500.0


def test_the_workload_floor_follows_the_workload_as_it_stands() -> None:
    """One statement the planner costs enormously (an RLS subquery charged on every row)
    dominates today's workload; once an index fixes it, a 40% saving on another statement
    is worth having though it is far below 0.5% of today's total."""
    a, b = idx("a"), idx("b")
    limits = Limits(min_absolute_saving=0.0, min_workload_share=0.005)
    found = select(problem({1: 10_000_000, 2: 1000}, {a: {1: 100}, b: {2: 600}}, limits=limits))
    assert found.chosen == [a, b]
    # without the fix for statement 1, 400 is below the floor of the workload
    alone = select(problem({1: 10_000_000, 2: 1000}, {b: {2: 600}}, limits=limits))
    assert alone.chosen == []


def test_an_index_saving_under_two_percent_of_the_final_workload_is_pruned() -> None:
    """b takes 10% off statement 2, which passes the greedy's bar; with a in place that is
    0.9% of what the workload still costs, and statement 2 does not depend on b."""
    a, b = idx("a"), idx("b")
    found = select(problem({1: 100_000, 2: 1_000}, {a: {1: 10_000}, b: {2: 900}}))
    assert found.chosen == [a]
    [note] = [x for x in found.left_out if x.index == b]
    assert "not worth its writes and disk" in note.why
    # the same saving on a workload it is a large part of stays
    kept = select(problem({1: 100_000, 2: 1_000}, {a: {1: 1_000}, b: {2: 900}}))
    assert kept.chosen == [a, b]
    # and a statement's only fast path stays however small a share that statement is
    decisive = select(problem({1: 100_000, 2: 1_000}, {a: {1: 10_000}, b: {2: 100}}))
    assert decisive.chosen == [a, b]


def test_a_wide_index_gives_way_to_a_slimmer_one_that_does_as_much() -> None:
    """(a) INCLUDE (x, y) saves 1% more than (a), and takes three times the disk."""
    wide = make(T, [IndexKey("a")], include=("x", "y"))
    [slim] = narrower(wide)
    assert slim == idx("a")
    chosen = select(
        problem(
            {1: 10_000},
            {wide: {1: 99}, slim: {1: 100}},
            sizes={wide: 3 * MB, slim: MB},
            narrow=narrower,
            candidates=[wide],  # the greedy only knows the wide form
        )
    )
    assert chosen.chosen == [slim]
    assert any("does as much for less disk" in x.why for x in chosen.left_out)
    # when the covering form is what makes the statement fast, it stays
    kept = select(
        problem(
            {1: 10_000},
            {wide: {1: 10}, slim: {1: 900}},
            sizes={wide: 3 * MB, slim: MB},
            narrow=narrower,
            candidates=[wide],
        )
    )
    assert kept.chosen == [wide]


def test_a_statement_a_chosen_index_could_slow_gets_the_index_that_serves_it() -> None:
    """The final check finds (k) could walk far for statement 2: rather than drop (k), which
    makes statement 1 fast, it adds (f, k), which the planner then prefers for statement 2.
    Without a candidate that helps, or without room for one, (k) goes."""
    k, fk, other = idx("k"), idx("f", "k"), idx("z")
    base = {1: 10_000.0, 2: 5_000.0}
    worst = {k: {2: 60_000.0}}
    setup = problem(base, {k: {1: 10, 2: 4_000}, fk: {2: 50}}, worst=worst)
    today = setup.cost(frozenset())
    left: list[LeftOut] = []
    rescued = _never_slower(setup, today, [k], left, _Rescues(setup, today, {}))
    assert rescued == [k, fk] and left == []
    assert setup.cost(frozenset(rescued))[2].worst <= 5_000
    hopeless = problem(base, {k: {1: 10, 2: 4_000}, other: {2: 4_500}}, worst=worst)
    assert _never_slower(hopeless, today, [k], left, _Rescues(hopeless, today, {})) == []
    assert [(x.index, x.statement) for x in left] == [(k, 2)]
    full = problem(
        base, {k: {1: 10, 2: 4_000}, fk: {2: 50}}, worst=worst, limits=Limits(max_indexes=1)
    )
    assert _never_slower(full, today, [k], [], _Rescues(full, today, {})) == []


def test_an_index_and_its_reverse_are_one_index() -> None:
    """(s, t DESC) INCLUDE (x) is read backwards for (s, t): the two are never both chosen;
    the covering one takes the plain one's place."""
    plain = make(T, [IndexKey("s"), IndexKey("t")])
    covering = make(T, [IndexKey("s"), IndexKey("t", desc=True)], include=("x",))
    mixed = make(T, [IndexKey("s"), IndexKey("t", desc=True)])
    found = select(
        problem(
            {1: 10_000, 2: 10_000},
            {plain: {1: 100, 2: 900}, covering: {1: 100, 2: 50}},
            sizes={plain: MB, covering: 2 * MB},
        )
    )
    assert found.chosen == [covering]
    assert _subsumes(covering, plain) and _subsumes(covering, mixed)
    assert not _subsumes(mixed, make(T, [IndexKey("s", desc=True), IndexKey("t", desc=True)]))


def test_an_equality_index_takes_its_pages_order_when_that_costs_nothing() -> None:
    """(s) serves statement 1 as well as (s, t) by the estimate (its literal value is light):
    the final set holds (s, t), which also serves heavy values. Not when (s, t) would slow
    another statement."""
    s, st = idx("s"), idx("s", "t")
    found = select(problem({1: 10_000}, {s: {1: 100}, st: {1: 100}}, ordered=lambda c: [st]))
    assert found.chosen == [st]
    risky = select(
        problem(
            {1: 10_000, 2: 1_000},
            {s: {1: 100}, st: {1: 100, 2: 900}},
            worst={st: {2: 50_000}},
            ordered=lambda c: [st] if c == s else [],
            candidates=[s],
        )
    )
    assert risky.chosen == [s]


def test_the_plain_twin_of_a_chosen_covering_index_is_not_added_beside_it() -> None:
    """(s, t DESC) INCLUDE (x) is chosen first; (s, t) would shave a little more off
    statement 2, but it is the same index read backwards, minus a column: not added."""
    covering = make(T, [IndexKey("s"), IndexKey("t", desc=True)], include=("x",))
    plain = make(T, [IndexKey("s"), IndexKey("t")])
    found = select(
        problem(
            {1: 10_000, 2: 10_000},
            {covering: {1: 10, 2: 100}, plain: {1: 900, 2: 90}},
            limits=Limits(min_absolute_saving=0.0, min_relative_saving=0.0),
        )
    )
    assert found.chosen == [covering]
