"""The Alertmanager configuration: a real alertmanager.yml loads with every supported key;
unsupported keys are refused with their path, harmless ones warned about; routing, grouping,
matchers, inhibition and time intervals behave as Alertmanager's."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import yaml

from vigil_alerting.notify.alert import Alert
from vigil_alerting.notify.config import load_config, parse_config
from vigil_alerting.notify.dispatch import Dispatcher, group_key, group_labels, route_alert
from vigil_alerting.notify.durations import parse_duration
from vigil_alerting.notify.errors import NotifyConfigError
from vigil_alerting.notify.matchers import MatcherError, parse_matchers

FULL = """
global:
  resolve_timeout: 5m
  smtp_smarthost: 127.0.0.1:25
  smtp_from: vigil@example.com
  smtp_require_tls: false
  slack_api_url: http://127.0.0.1:9/slack
templates: ['/etc/alertmanager/*.tmpl']
route:
  receiver: team
  group_by: [alertname, service]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
      group_wait: 10s
      continue: true
    - match: {team: db}
      match_re: {service: 'pg-.*'}
      receiver: db
      group_by: ['...']
      mute_time_intervals: [weekends]
      routes:
        - matchers: ['{env!="prod", region=~"eu-.*"}']
          receiver: team
          active_time_intervals: [office]
receivers:
  - name: team
    webhook_configs:
      - url: http://127.0.0.1:9/hook
        max_alerts: 10
        http_config: {authorization: {credentials: s3cret}}
    slack_configs:
      - channel: '#alerts'
        text: '{{ template "slack.text" . }}'
        send_resolved: true
  - name: pager
    pagerduty_configs: [{routing_key: abc, url: http://127.0.0.1:9/v2/enqueue}]
    telegram_configs: [{bot_token: t0k, chat_id: -100123, api_url: http://127.0.0.1:9}]
  - name: db
    email_configs: [{to: db@example.com}]
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [service]
  - source_match: {alertname: NodeDown}
    target_match_re: {alertname: '.+'}
    equal: [node]
time_intervals:
  - name: office
    time_intervals:
      - times: [{start_time: '09:00', end_time: '17:00'}]
        weekdays: ['monday:friday']
        location: Europe/Berlin
mute_time_intervals:
  - name: weekends
    time_intervals: [{weekdays: [saturday, sunday]}]
"""


def test_a_full_alertmanager_yml_loads_with_its_harmless_keys_warned(tmp_path: Path) -> None:
    path = tmp_path / "alertmanager.yml"
    path.write_text(FULL)
    cfg = load_config(path)
    assert set(cfg.receivers) == {"team", "pager", "db"}
    root = cfg.route
    assert (root.group_wait_s, root.group_interval_s, root.repeat_interval_s) == (30, 300, 4 * 3600)
    crit, db = root.routes
    assert (
        crit.receiver == "pager"
        and crit.continue_
        and crit.group_wait_s == 10
        and crit.group_interval_s == 300
    )
    assert db.group_by_all and db.mute_time_intervals == ("weekends",)
    assert db.routes[0].group_by_all  # inherited
    email = cfg.receivers["db"].email_configs[0]
    assert (email.smarthost, email.from_, email.require_tls) == ("127.0.0.1:25", "vigil@example.com", False)
    assert cfg.receivers["team"].slack_configs[0].api_url == "http://127.0.0.1:9/slack"  # from global
    assert cfg.receivers["team"].slack_configs[0].text is None  # the Go template was dropped
    assert cfg.receivers["pager"].telegram_configs[0].parse_mode == "HTML"
    assert any(w.startswith("templates:") for w in cfg.warnings)
    assert any(w.startswith("global.resolve_timeout:") for w in cfg.warnings)
    assert any(w.startswith("receivers[0].slack_configs[0].text:") for w in cfg.warnings)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"receivers": [{"name": "team", "webhook_configs": [{"url": "http://x", "url_file": "/f"}]}]},
         "receivers[0].webhook_configs[0].url_file: not supported"),
        ({"receivers": [{"name": "team", "opsgenie_configs": [{"api_key": "k"}]}]}, "receivers[0].opsgenie_configs"),
        ({"route": {"receiver": "nobody"}}, "route.receiver: unknown receiver 'nobody'"),
        ({"route": {"receiver": "team", "group_wait": "soon"}}, "route.group_wait"),
        ({"route": {"receiver": "team", "routes": [{"matchers": ["a=~\"(\""]}]}}, "route.routes[0].matchers"),
        ({"route": {"receiver": "team", "group_by": ["...", "x"]}}, "route.group_by"),
        ({"route": {"receiver": "team", "routes": [{"mute_time_intervals": ["never"]}]}},
         "route.routes[0].mute_time_intervals[0]: unknown time interval 'never'"),
        ({"route": {"receiver": "team", "matchers": ["a=b"]}}, "route: the root route must not have matchers"),
        ({"time_intervals": [{"name": "x", "time_intervals": [{"weekdays": ["funday"]}]}]}, "time_intervals[0]"),
        ({"route": {"receiver": "team", "group_interval": "0s"}}, "route.group_interval: must be greater than 0"),
        ({"receivers": [{"name": "team", "email_configs": [{"to": "a@b", "smarthost": "nohost"}]}]},
         "receivers[0].email_configs[0].smarthost"),
    ],
)  # fmt: skip
def test_a_bad_file_is_refused_whole_with_the_path_and_reason(change: dict, where: str) -> None:
    base = {
        "route": {"receiver": "team"},
        "receivers": [{"name": "team", "webhook_configs": [{"url": "http://x"}]}],
    }
    with pytest.raises(NotifyConfigError) as err:
        parse_config({**base, **change}, file="am.yml")
    assert str(err.value).startswith(f"am.yml: {where}"), str(err.value)


def test_unreadable_and_invalid_yaml_are_refused(tmp_path: Path) -> None:
    with pytest.raises(NotifyConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("route: [unclosed")
    with pytest.raises(NotifyConfigError, match="not valid YAML"):
        load_config(bad)


def test_matchers_and_durations() -> None:
    ms = parse_matchers(['{severity=~"crit.*", env!="dev"}', "team = db", 'a!~"x|y"'])
    assert [str(m) for m in ms] == ['severity=~"crit.*"', 'env!="dev"', 'team="db"', 'a!~"x|y"']
    assert all(m.matches({"severity": "critical", "team": "db", "a": "z"}) for m in ms)
    assert not ms[0].matches({"severity": "xcritical"})  # anchored
    with pytest.raises(MatcherError):
        parse_matchers(["novalue"])
    assert parse_duration("1h30m") == 5400 and parse_duration("250ms") == 0.25 and parse_duration("0s") == 0
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("5 minutes")


def _alert(fp: str, **labels: str) -> Alert:
    return Alert(fp, {"alertname": "HighLatency", **labels}, starts_at_ns=1)


def test_routing_grouping_continue_and_dotdotdot() -> None:
    cfg = parse_config(yaml.safe_load(FULL))
    crit = route_alert(cfg.route, {"alertname": "x", "severity": "critical", "service": "a"})
    assert [r.receiver for r in crit] == ["pager"]  # matched: the root's own receiver is not used
    both = route_alert(cfg.route, {"alertname": "x", "severity": "critical", "team": "db", "service": "pg-1"})
    assert [r.receiver for r in both] == ["pager", "db"]  # continue: the later siblings are tried too
    db = route_alert(cfg.route, {"alertname": "x", "team": "db", "service": "pg-1", "env": "prod"})
    assert [r.receiver for r in db] == ["db"]
    eu = route_alert(
        cfg.route, {"alertname": "x", "team": "db", "service": "pg-1", "env": "dev", "region": "eu-1"}
    )
    assert [r.receiver for r in eu] == ["team"] and eu[0].group_by_all
    labels = {"alertname": "x", "service": "a", "pod": "p1"}
    assert group_labels(cfg.route, labels) == {"alertname": "x", "service": "a"}
    assert group_labels(eu[0], labels) == dict(sorted(labels.items()))
    assert group_key(cfg.route, group_labels(cfg.route, labels)) != group_key(
        crit[0], group_labels(crit[0], labels)
    )


def test_time_intervals_mute_and_activate() -> None:
    cfg = parse_config(yaml.safe_load(FULL))
    office = cfg.time_intervals["office"]
    berlin_monday_10 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)  # 10:00 in Berlin (CET)
    assert office.contains(berlin_monday_10)
    assert not office.contains(berlin_monday_10.replace(hour=16, minute=30))  # 17:30 in Berlin
    assert not office.contains(dt.datetime(2026, 3, 7, 9, 0, tzinfo=dt.UTC))  # Saturday
    assert cfg.time_intervals["weekends"].contains(dt.datetime(2026, 3, 8, 12, tzinfo=dt.UTC))
    last = parse_config(
        {"route": {"receiver": "r"}, "receivers": [{"name": "r"}],
         "time_intervals": [{"name": "eom", "time_intervals": [{"days_of_month": ["-1"], "months": ["february"]}]}]}
    ).time_intervals["eom"]  # fmt: skip
    assert last.contains(dt.datetime(2026, 2, 28, tzinfo=dt.UTC)) and not last.contains(
        dt.datetime(2026, 2, 27, tzinfo=dt.UTC)
    )


def test_group_wait_interval_and_repeat_timing_without_clocks() -> None:
    """The dispatcher's timing on a synthetic clock: group_wait before the first notification,
    group_interval before a changed group, repeat_interval for an unchanged one, resolved."""
    cfg = parse_config(
        {"route": {"receiver": "r", "group_by": ["alertname"], "group_wait": "2s", "group_interval": "5s",
                   "repeat_interval": "60s"},
         "receivers": [{"name": "r", "webhook_configs": [{"url": "http://x"}]}]}
    )  # fmt: skip
    d = Dispatcher(cfg)
    s = 10**9
    d.observe([_alert("a", service="x")], 0)
    assert d.flush_due(1 * s)[0] == [] and d.next_wake_ns() == 2 * s
    first = d.flush_due(2 * s)[0]
    assert [[a.fingerprint for a in n.alerts] for n in first] == [["a"]]
    d.observe([_alert("b", service="y")], 3 * s)  # changed: waits for group_interval after the flush
    assert d.next_wake_ns() == 7 * s
    assert [[a.fingerprint for a in n.alerts] for n in d.flush_due(7 * s)[0]] == [["a", "b"]]
    assert d.next_wake_ns() == 67 * s  # unchanged: the repeat
    assert d.flush_due(66 * s)[0] == []
    assert len(d.flush_due(67 * s)[0]) == 1
    d.observe(
        [Alert("a", {"alertname": "HighLatency", "service": "x"}, starts_at_ns=1, ends_at_ns=68 * s)], 68 * s
    )
    resolved = d.flush_due(72 * s)[0]
    assert [(a.fingerprint, a.status) for a in resolved[0].alerts] == [("b", "firing"), ("a", "resolved")]


def test_an_alert_inhibited_beside_a_sent_one_goes_out_at_the_next_group_interval_once_its_source_resolves() -> (
    None
):
    cfg = parse_config(
        {"route": {"receiver": "r", "group_by": ["severity"], "group_wait": "0s", "group_interval": "5s",
                   "repeat_interval": "1h"},
         "receivers": [{"name": "r", "webhook_configs": [{"url": "http://x"}]}],
         "inhibit_rules": [{"source_matchers": ["severity=critical"], "target_matchers": ["severity=warning"],
                            "equal": ["service"]}]}
    )  # fmt: skip
    s = 10**9
    d = Dispatcher(cfg)
    crit = Alert("c", {"alertname": "down", "severity": "critical", "service": "db"}, starts_at_ns=1)
    warn_db = Alert("w1", {"alertname": "slow", "severity": "warning", "service": "db"}, starts_at_ns=1)
    warn_web = Alert("w2", {"alertname": "slow", "severity": "warning", "service": "web"}, starts_at_ns=1)
    d.observe([crit, warn_db, warn_web], 0)
    sent, changes = d.flush_due(0)
    assert sorted([a.fingerprint for a in n.alerts] for n in sent) == [["c"], ["w2"]]
    assert [(c.fingerprint, c.reason) for c in changes] == [("w1", "inhibited")]
    d.observe([Alert("c", crit.labels, starts_at_ns=1, ends_at_ns=2 * s)], 2 * s)
    sent, changes = d.flush_due(5 * s)  # the warning group looks again after group_interval, not 1 h
    assert sorted([(a.fingerprint, a.status) for a in n.alerts] for n in sent) == [
        [("c", "resolved")],
        [("w1", "firing"), ("w2", "firing")],
    ]
    assert [(c.fingerprint, c.reason) for c in changes] == [("w1", "")]


def test_two_projects_alerts_with_identical_labels_are_grouped_silenced_inhibited_and_acknowledged_apart() -> (
    None
):
    """The same labels (so the same instance fingerprint) in two projects are two alerts to the
    notifier: two groups with their own key (PagerDuty's dedup_key apart), one project's silence,
    inhibiting alert or acknowledgement leaves the other's alone. The home project's group key
    is the one Alertmanager would make (unchanged by projects)."""
    cfg = parse_config(
        {"route": {"receiver": "r", "group_by": ["alertname"], "group_wait": "0s", "group_interval": "5s",
                   "repeat_interval": "10s"},
         "receivers": [{"name": "r", "pagerduty_configs": [{"routing_key": "k", "url": "http://x"}]}],
         "inhibit_rules": [{"source_matchers": ["severity=critical"], "target_matchers": ["severity=warning"],
                            "equal": ["service"]}]}
    )  # fmt: skip
    s = 10**9
    acked: set[str] = set()
    d = Dispatcher(
        cfg,
        silenced=lambda a, now: ["s1"] if a.project == "silenced_db" else [],
        acknowledged=acked.__contains__,
        home_project="home_db",
    )
    labels = {"alertname": "slow", "severity": "warning", "service": "api"}
    d.observe(
        [Alert("fp", labels, starts_at_ns=1, project=p) for p in ("home_db", "beta_db", "silenced_db")], 0
    )
    sent, changes = d.flush_due(0)
    assert sorted(n.group_key for n in sent) == ["/{}:{alertname='slow'}", "/{}:{alertname='slow'}@beta_db"]
    assert len({n.dedup_key for n in sent}) == 2
    assert [(c.fingerprint, c.reason) for c in changes] == [("fp", "silenced by s1")]
    # A critical alert in beta inhibits beta's warning only.
    crit = {"alertname": "down", "severity": "critical", "service": "api"}
    d.observe([Alert("crit", crit, starts_at_ns=2, project="beta_db")], 1 * s)
    sent, changes = d.flush_due(10 * s)  # the repeats are due
    assert sorted((n.group_key, [a.fingerprint for a in n.alerts]) for n in sent) == [
        ("/{}:{alertname='down'}@beta_db", ["crit"]),
        ("/{}:{alertname='slow'}", ["fp"]),
    ]
    assert [c.reason for c in changes] == ["inhibited"]
    # Beta's incident is acknowledged: the home project's group still repeats.
    acked.add("beta_db/crit")
    sent, _ = d.flush_due(20 * s)
    assert [n.group_key for n in sent] == ["/{}:{alertname='slow'}"]
