"""Template parameters and conditions, as CloudFormation evaluates them, for the local stack.

``pik local up --param SqsTapQueueArn=arn:...`` works like ``sam deploy --parameter-overrides``:
the parameters' values decide the template's ``Conditions``, and a resource or output whose
condition is false does not exist locally either.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from pik.core.errors import PikError


class ParameterError(PikError, ValueError):
    """An unknown parameter, or a value its ``AllowedValues`` refuse."""


def parameter_values(template: dict, overrides: dict[str, str] | None = None) -> dict[str, str]:
    """Every parameter's value: the override, else the default (as text).

    >>> parameter_values({"Parameters": {"A": {"Default": 1}, "B": {}}}, {"B": "x"})
    {'A': '1', 'B': 'x'}
    """
    declared = template.get("Parameters", {})
    unknown = sorted(set(overrides or {}) - set(declared))
    if unknown:
        raise ParameterError(f"unknown template parameter{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}")
    values = {name: str(spec.get("Default", "")) for name, spec in declared.items()}
    for name, value in (overrides or {}).items():
        allowed = declared[name].get("AllowedValues")
        if allowed and str(value) not in [str(a) for a in allowed]:
            raise ParameterError(f"{name}={value!r} is not one of {', '.join(str(a) for a in allowed)}")
        values[name] = str(value)
    return values


#: The intrinsic functions a condition may use, each given the evaluator and its arguments.
_FUNCTIONS: dict[str, Callable[[Callable[[Any], Any], list[Any]], Any]] = {
    "Fn::Equals": lambda value, args: str(value(args[0])) == str(value(args[1])),
    "Fn::Not": lambda value, args: not value(args[0]),
    "Fn::And": lambda value, args: all(value(a) for a in args),
    "Fn::Or": lambda value, args: any(value(a) for a in args),
    "Fn::Join": lambda value, args: str(args[0]).join(str(value(a)) for a in value(args[1])),
    "Fn::Split": lambda value, args: str(value(args[1])).split(str(args[0])),
    "Fn::Select": lambda value, args: value(args[1])[int(args[0])],
}


def evaluate(template: dict, values: dict[str, str]) -> dict[str, bool]:
    """Each condition of the template, true or false (``Fn::Equals/Not/And/Or``, ``Ref``, ``Condition``,
    and the string functions ``Fn::Join/Split/Select`` inside them).

    >>> evaluate({"Conditions": {"On": {"Fn::Equals": [{"Ref": "P"}, "yes"]}, "Off": {"Fn::Not": [
    ...     {"Condition": "On"}]}}}, {"P": "yes"})
    {'On': True, 'Off': False}
    """
    specs = template.get("Conditions", {})
    results: dict[str, bool] = {}

    def value(node: Any) -> Any:
        if isinstance(node, list):
            return [value(item) for item in node]
        if isinstance(node, (str, int, float, bool)):
            return node
        if isinstance(node, dict) and "Ref" in node:
            return values.get(node["Ref"], node["Ref"])
        condition_name = node.get("Condition", node.get("Fn::Condition")) if isinstance(node, dict) else None
        if condition_name is not None:  # the loader turns !Condition into Fn::Condition
            return condition(condition_name)
        name, args = next(iter(node.items())) if isinstance(node, dict) and len(node) == 1 else (None, None)
        if name not in _FUNCTIONS:
            raise ParameterError(f"cannot evaluate the condition expression {node!r} locally")
        return _FUNCTIONS[name](value, args)

    def condition(name: str) -> bool:
        if name not in results:
            results[name] = bool(value(specs[name]))
        return results[name]

    for name in specs:
        condition(name)
    return results


def resolve(template: dict, overrides: dict[str, str] | None = None) -> dict:
    """A copy of ``template`` without the resources and outputs whose condition is false.

    >>> doc = resolve(load(), {"EnableProcessor": "false"})          # doctest: +SKIP
    >>> "ProcessorFunction" in doc["Resources"]                    # doctest: +SKIP
    False
    """
    values = parameter_values(template, overrides)
    conditions = evaluate(template, values)
    doc = copy.deepcopy(template)
    for section in ("Resources", "Outputs"):
        doc[section] = {
            name: choose(spec, conditions)
            for name, spec in doc.get(section, {}).items()
            if conditions.get(spec.get("Condition"), True)
        }
    doc["ParameterValues"] = values  # pik_local's own key: what this copy was resolved with
    return doc


_NO_VALUE = object()


def choose(node: Any, conditions: dict[str, bool]) -> Any:
    """``node`` with every ``Fn::If`` replaced by its chosen branch and ``AWS::NoValue`` removed.

    >>> choose({"BatchSize": {"Fn::If": ["Fifo", 10, 100]},
    ...         "Window": {"Fn::If": ["Fifo", {"Ref": "AWS::NoValue"}, 1]}}, {"Fifo": True})
    {'BatchSize': 10}
    """
    picked = _choose(node, conditions)
    return None if picked is _NO_VALUE else picked


def _choose(node: Any, conditions: dict[str, bool]) -> Any:
    if isinstance(node, dict) and set(node) == {"Fn::If"}:
        name, when_true, when_false = node["Fn::If"]
        return _choose(when_true if conditions[name] else when_false, conditions)
    if isinstance(node, dict) and node == {"Ref": "AWS::NoValue"}:
        return _NO_VALUE
    if isinstance(node, dict):
        return {key: picked for key, value in node.items() if (picked := _choose(value, conditions)) is not _NO_VALUE}
    if isinstance(node, list):
        return [picked for value in node if (picked := _choose(value, conditions)) is not _NO_VALUE]
    return node
