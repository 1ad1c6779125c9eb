"""The plan: what a review needs, resolved before it runs (rules in force, dates,
dependencies, where its incumbents come from)."""

from .review import Dependency, Incumbents, ReviewPlan, Where, first_simulable_review, plan_review

__all__ = ["Dependency", "Incumbents", "ReviewPlan", "Where", "first_simulable_review", "plan_review"]
