"""The portfolio is built while the background refresher re-assesses factories."""

from __future__ import annotations

from tests.support.assessor_env import AssessorEnv


async def test_a_level_forgotten_by_the_refresher_mid_view_does_not_break_the_portfolio(
    assessor_env: AssessorEnv,
) -> None:
    service = assessor_env.service
    factories = assessor_env.store.factories()
    await service.assessment(assessor_env.store.factory("demo-factory"))
    service.forget_assessment("other-factory")
    assess = service.assessment

    async def assessment_while_refreshing(factory, **kwargs):
        # the refresher forgets the other factory's cached level meanwhile (to assess it again)
        service.forget_assessment("demo-factory")
        return await assess(factory, **kwargs)

    service.assessment = assessment_while_refreshing  # type: ignore[method-assign]
    rows = await service.portfolio(factories)
    assert sorted(r["factory"] for r in rows) == ["demo-factory", "other-factory"]
