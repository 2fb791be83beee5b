"""What grafana-clickhouse-datasource (pkg/macros, v4) and Grafana's front end do to a panel's SQL before
ClickHouse sees it, for the macros and variables Pathlight's dashboards use, so the tests can run the exact
text the plugin would send. The golden expansions in test_plugin_macros.py are the plugin's own test cases.
"""
import re
from datetime import datetime, timezone

MACRO = re.compile(r"\$__(\w+)")
VARIABLE = re.compile(r"\$\{(\w+):sqlstring\}")
# The macros that need a newer ClickHouse than 18.16 (no toStartOfInterval, no fromUnixTimestamp64Milli).
NOT_ON_18_16 = {"timeInterval", "timeInterval_ms", "fromTime_ms", "toTime_ms", "timeFilter_ms"}


class MacroError(ValueError):
    pass


def _date_time(moment):
    return f"toDateTime({int(moment.timestamp())})"


def _date_time64(moment):
    return f"fromUnixTimestamp64Milli({int(round(moment.timestamp() * 1000))})"


def _date(moment):
    return f"toDate('{moment.astimezone(timezone.utc).strftime('%Y-%m-%d')}')"


def _between(column, low, high):
    return f"{column} >= {low} AND {column} <= {high}"


def _one(name, args):
    if len(args) != 1:
        raise MacroError(f"$__{name}: expected 1 argument, received {len(args)}")
    return args[0]


def _interval_seconds(interval_s):
    return max(int(interval_s), 1)


def expansion(name, args, time_from, time_to, interval_s):
    """The text one macro becomes; args as the plugin splits them (commas at depth 0, trimmed)."""
    if name == "fromTime":
        return _date_time(time_from)
    if name == "toTime":
        return _date_time(time_to)
    if name == "fromTime_ms":
        return _date_time64(time_from)
    if name == "toTime_ms":
        return _date_time64(time_to)
    if name == "timeFilter":
        return _between(_one(name, args), _date_time(time_from), _date_time(time_to))
    if name == "timeFilter_ms":
        return _between(_one(name, args), _date_time64(time_from), _date_time64(time_to))
    if name == "dateFilter":
        return _between(_one(name, args), _date(time_from), _date(time_to))
    if name in ("dateTimeFilter", "dt"):
        if len(args) != 2:
            raise MacroError(f"$__{name}: expected 2 arguments, received {len(args)}")
        return (f"({_between(args[0], _date(time_from), _date(time_to))}) AND "
                f"({_between(args[1], _date_time(time_from), _date_time(time_to))})")
    if name == "timeInterval":
        return f"toStartOfInterval(toDateTime({_one(name, args)}), INTERVAL {_interval_seconds(interval_s)} second)"
    if name == "timeInterval_ms":
        milliseconds = max(int(interval_s * 1000), 1)
        return f"toStartOfInterval(toDateTime64({_one(name, args)}, 3), INTERVAL {milliseconds} millisecond)"
    if name == "interval_s":
        return str(_interval_seconds(interval_s))
    # sqlds adds generic ones ($__timeGroup, $__timeFrom, $__table, ...); the dashboards do not use them.
    raise MacroError(f"$__{name} is not a macro of the plugin this expander knows")


def _arguments(sql, start):
    """(args, end) for the parenthesised list opening at sql[start], which may nest parentheses."""
    depth, args, current = 0, [], ""
    for index in range(start, len(sql)):
        char = sql[index]
        if char == "(":
            depth += 1
            if depth == 1:
                continue
        elif char == ")":
            depth -= 1
            if depth == 0:
                args.append(current.strip())
                return [arg for arg in args if arg], index + 1
        elif char == "," and depth == 1:
            args.append(current.strip())
            current = ""
            continue
        current += char
    raise MacroError(f"unclosed argument list at {start}")


def expand_macros(sql, time_from, time_to, interval_s=1.0):
    """`sql` with every $__macro replaced, as the plugin's back end does."""
    out, position = "", 0
    for match in MACRO.finditer(sql):
        if match.start() < position:
            continue
        name, end = match.group(1), match.end()
        args = []
        if end < len(sql) and sql[end] == "(":
            args, end = _arguments(sql, end)
        out += sql[position:match.start()] + expansion(name, args, time_from, time_to, interval_s)
        position = end
    return out + sql[position:]


def sqlstring(value):
    """Grafana's `${var:sqlstring}` format: single-quoted, quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def expand(sql, time_from, time_to, interval_s=1.0, variables=None):
    """What ClickHouse receives: the front end fills `${var:sqlstring}`, then the plugin expands macros."""
    variables = variables or {}

    def fill(match):
        if match.group(1) not in variables:
            raise MacroError(f"no value for ${{{match.group(1)}}}")
        return sqlstring(variables[match.group(1)])

    return expand_macros(VARIABLE.sub(fill, sql), time_from, time_to, interval_s)


def at(unix_seconds):
    return datetime.fromtimestamp(unix_seconds, tz=timezone.utc)
