"""`calculator`: arithmetic on numbers, parsed and evaluated node by node, never `eval`.

Accepts numbers, `+ - * / // % **` (and `×`, `÷`, `−`), parentheses, the constants `pi`,
`e` and `tau`, and a few functions of `math` (`sqrt`, `sin`, `log`, …). Refuses long
expressions, deep nesting and powers whose result would be huge, so one call stays cheap.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from langchain_core.tools import BaseTool, StructuredTool, ToolException
from pydantic import BaseModel, Field

MAX_EXPRESSION_LENGTH = 500
MAX_DEPTH = 250
#: A power is refused when its result would have more digits than this.
MAX_RESULT_DIGITS = 1000

Number = int | float

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Number]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_FUNCTIONS: dict[str, Callable[..., Number]] = {
    "abs": abs,
    "round": round,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
    "log2": math.log2,
    "log10": math.log10,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "floor": math.floor,
    "ceil": math.ceil,
}
_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}
_SPELLINGS = {"×": "*", "÷": "/", "−": "-", "^": "**"}


class CalculatorArgs(BaseModel):
    expression: str = Field(
        max_length=MAX_EXPRESSION_LENGTH,
        description="An arithmetic expression, e.g. (2 + 3) * 4 or sqrt(2) ** 3.",
    )


def calculate(expression: str) -> Number:
    """The value of `expression`; ToolException for anything that is not arithmetic."""
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ToolException(f"the expression is longer than {MAX_EXPRESSION_LENGTH} characters")
    for spelling, op in _SPELLINGS.items():
        expression = expression.replace(spelling, op)
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise ToolException(f"not an arithmetic expression: {expression!r}") from None
    try:
        value = _evaluate(tree.body, 0)
    except ZeroDivisionError:
        raise ToolException("division by zero") from None
    except (OverflowError, ValueError) as exc:
        raise ToolException(f"cannot compute this: {exc}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise ToolException("the result is not a finite number")
    return value


def _evaluate(node: ast.expr, depth: int) -> Number:
    if depth > MAX_DEPTH:
        raise ToolException("the expression is nested too deeply")
    depth += 1
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        if isinstance(node.value, bool):
            raise ToolException("not allowed in an expression: a truth value")
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand, depth))
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, depth), _evaluate(node.right, depth)
        if isinstance(node.op, ast.Pow):
            return _power(left, right)
        if type(node.op) in _BINARY:
            return _BINARY[type(node.op)](left, right)
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
        and 1 <= len(node.args) <= 2
    ):
        args = [_evaluate(arg, depth) for arg in node.args]
        return _FUNCTIONS[node.func.id](*args)
    raise ToolException(f"not allowed in an expression: {ast.unparse(node)!r}")


def _power(base: Number, exponent: Number) -> Number:
    if base not in (0, 1, -1) and abs(exponent) > 1:
        digits = abs(exponent) * math.log10(abs(base)) if base else 0.0
        if digits > MAX_RESULT_DIGITS:
            raise ToolException(f"the result would have more than {MAX_RESULT_DIGITS} digits")
    result = base**exponent
    if isinstance(result, complex):
        raise ToolException("the result is not a real number")
    return result


def calculator(expression: str) -> str:
    value = calculate(expression)
    if isinstance(value, int) and value.bit_length() > MAX_RESULT_DIGITS * 3.33:
        raise ToolException(f"the result has more than {MAX_RESULT_DIGITS} digits")
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def build() -> BaseTool:
    return StructuredTool.from_function(
        calculator,
        name="calculator",
        description=(
            "Evaluate an arithmetic expression exactly: numbers, + - * / // % **, "
            "parentheses, pi, e, and sqrt, exp, log, log2, log10, sin, cos, tan, "
            "asin, acos, atan, floor, ceil, abs, round."
        ),
        args_schema=CalculatorArgs,
    )
