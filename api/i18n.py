"""The interface in English and Japanese; pick by ?lang=, user setting, Accept-Language."""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request

LOCALES = ("en", "ja")
DEFAULT_LOCALE = "en"

# key -> (en, ja)
MESSAGES: dict[str, tuple[str, str]] = {
    "app": ("Kizuki", "Kizuki"),
    "queue": ("Case queue", "ケース一覧"),
    "fleet": ("Fleet", "フリート"),
    "devices": ("Devices", "デバイス"),
    "device": ("Device", "デバイス"),
    "login": ("Log in", "ログイン"),
    "logout": ("Log out", "ログアウト"),
    "username": ("Username", "ユーザー名"),
    "password": ("Password", "パスワード"),
    "bad_login": ("Wrong username or password.", "ユーザー名またはパスワードが違います。"),
    "status": ("Status", "状態"),
    "severity": ("Severity", "重要度"),
    "assignee": ("Assignee", "担当者"),
    "who_has_what": ("Who has what", "担当状況"),
    "model": ("Product model", "製品モデル"),
    "failure_mode": ("Failure mode", "故障モード"),
    "filter": ("Filter", "絞り込み"),
    "all": ("All", "すべて"),
    "unassigned": ("Unassigned", "未割り当て"),
    "sla": ("SLA", "SLA"),
    "sla_due_in": ("due in {t}", "残り {t}"),
    "sla_overdue": ("overdue by {t}", "{t} 超過"),
    "units_dhm": ("d|h|m| ", "日|時間|分|"),
    "opened": ("Opened", "起票"),
    "customer": ("Customer", "お客様"),
    "case": ("Case", "ケース"),
    "no_cases": ("No cases match.", "該当するケースはありません。"),
    "next_page": ("Next page", "次のページ"),
    "explanation": ("Why this case", "検知の根拠"),
    "expected": ("Expected", "想定値"),
    "observed": ("Observed", "実測値"),
    "trend": ("Trend per day", "1日あたりの傾向"),
    "limit": ("User-visible limit", "お客様が気づく限界"),
    "eta": ("Predicted crossing", "限界到達予測"),
    "normal_band": ("Normal range", "正常範囲"),
    "onset": ("Degradation began", "劣化の始まり"),
    "timeline": ("Timeline", "タイムライン"),
    "notifications": ("Notifications", "通知"),
    "channel": ("Channel", "チャネル"),
    "attempts": ("Attempts", "送信試行"),
    "feedback": ("Customer feedback", "お客様の評価"),
    "no_feedback": ("No feedback yet.", "まだ評価はありません。"),
    "no_notifications": ("No notifications.", "通知はありません。"),
    "actions": ("Actions", "操作"),
    "acknowledge": ("Acknowledge", "確認"),
    "assign": ("Assign", "割り当て"),
    "start": ("Start work", "対応開始"),
    "note": ("Add note", "メモを追加"),
    "resolve": ("Resolve", "解決"),
    "close": ("Close", "クローズ"),
    "reopen": ("Reopen", "再オープン"),
    "latest": ("Latest readings", "最新の値"),
    "last_seen": ("Last heard from", "最終受信"),
    "health": ("Health", "健全性"),
    "open_cases": ("Open cases", "未解決ケース"),
    "lead_time": ("Median lead time", "リードタイム中央値"),
    "devices_count": ("Devices", "台数"),
    "healthy": ("healthy", "正常"),
    "degraded": ("degraded", "劣化"),
    "unknown": ("never heard from", "受信履歴なし"),
    "silent": ("silent", "受信途絶"),
    "ago": ("{t} ago", "{t}前"),
    "days": ("{n} d", "{n} 日"),
    "silent_means": (
        "Silent: nothing received for more than {t}.",
        "受信途絶: {t}以上データが届いていません。",
    ),
    "store_down": (
        "The telemetry store does not answer, so device health cannot be told.",
        "テレメトリストアが応答しないため、デバイスの健全性を判定できません。",
    ),
    "page_of": ("page {page} of {pages}", "{pages} ページ中 {page} ページ目"),
    "prev_page": ("Previous page", "前のページ"),
    "language": ("Language", "言語"),
    "thanks": ("Thank you for your feedback.", "ご評価ありがとうございました。"),
    "was_helpful": ("Was our message helpful?", "このお知らせは役に立ちましたか?"),
    "helpful": ("Helpful", "役に立った"),
    "not_helpful": ("Not helpful", "役に立たなかった"),
    "comment": ("Comment (optional)", "コメント(任意)"),
    "send": ("Send", "送信"),
    "error": ("Error", "エラー"),
    "kb": ("Knowledge base", "ナレッジベース"),
    "reason": ("Reason", "理由"),
    "when": ("When", "日時"),
    "who": ("Who", "実行者"),
    "what": ("What", "内容"),
    "telemetry": ("Telemetry", "テレメトリ"),
    "cases": ("Cases", "ケース"),
    # statuses, severities, notification states and kinds
    "open": ("open", "未対応"),
    "acknowledged": ("acknowledged", "確認済み"),
    "in_progress": ("in progress", "対応中"),
    "resolved": ("resolved", "解決済み"),
    "closed": ("closed", "クローズ"),
    "critical": ("critical", "緊急"),
    "high": ("high", "高"),
    "medium": ("medium", "中"),
    "low": ("low", "低"),
    "pending": ("pending", "送信待ち"),
    "sending": ("sending", "送信中"),
    "sent": ("sent", "送信済み"),
    "failed": ("failed", "失敗"),
    "skipped": ("skipped", "スキップ"),
    "detected": ("detected", "検知のお知らせ"),
    "update": ("update", "更新のお知らせ"),
    "all_clear": ("all clear", "復旧のお知らせ"),
    # timeline entries
    "ev_opened": ("opened", "起票"),
    "ev_assigned": ("assigned", "割り当て"),
    "ev_unassigned": ("unassigned", "割り当て解除"),
    "ev_acknowledge": ("acknowledged", "確認"),
    "ev_start": ("work started", "対応開始"),
    "ev_resolve": ("resolved", "解決"),
    "ev_close": ("closed", "クローズ"),
    "ev_reopen": ("reopened", "再オープン"),
    "ev_note": ("note", "メモ"),
    "ev_feedback": ("customer feedback", "お客様の評価"),
    "ev_notified": ("customer notified", "お客様へ通知"),
    "ev_severity_raised": ("severity raised", "重要度の引き上げ"),
    "ev_anomaly_again": ("anomaly again", "異常の再検知"),
    "ev_recovering": ("recovering", "回復傾向"),
    # notifications and their delivery
    "message": ("Message sent", "送信した文面"),
    "attempt_ok": ("delivered", "送信成功"),
    "attempt_retry": ("failed, will retry", "失敗(再送予定)"),
    "attempt_failed": ("failed", "失敗"),
    "no_attempts": ("not sent yet", "未送信"),
    "ch_email": ("e-mail", "メール"),
    "ch_sms": ("SMS", "SMS"),
    "ch_chat": ("chat", "チャット"),
    "ch_webhook": ("webhook", "Webhook"),
    "ch_slack": ("Slack", "Slack"),
    "ch_line": ("LINE", "LINE"),
    "ch_teams": ("Teams", "Teams"),
    "ch_log": ("log (demo)", "ログ(デモ)"),
    "ch_other": ("other", "その他"),
    "active_statuses": ("open · acknowledged · in progress", "未対応・確認済み・対応中"),
}


def normalise(tag: str | None) -> str | None:
    """'ja-JP' -> 'ja'; unknown languages -> None."""
    if not tag:
        return None
    base = tag.strip().lower().split("-")[0].split("_")[0]
    return base if base in LOCALES else None


def from_accept_language(header: str) -> str | None:
    """The best supported language of an Accept-Language header."""
    ranked: list[tuple[float, str]] = []
    for part in header.split(","):
        lang, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            weight = 0.0
        if (code := normalise(lang)) and weight > 0:
            ranked.append((weight, code))
    return max(ranked, key=lambda r: r[0])[1] if ranked else None


def pick_locale(request: Request, user_locale: str | None = None) -> str:
    """``?lang=`` beats the user's setting, which beats Accept-Language."""
    return (
        normalise(request.query_params.get("lang"))
        or normalise(request.session.get("lang") if "session" in request.scope else None)
        or normalise(user_locale)
        or from_accept_language(request.headers.get("accept-language", ""))
        or DEFAULT_LOCALE
    )


def translator(locale: str) -> Callable[..., str]:
    """``_(key, **fmt)`` for one locale; unknown keys come back as themselves."""
    index = LOCALES.index(locale) if locale in LOCALES else 0

    def _(key: str, **fmt: object) -> str:
        pair = MESSAGES.get(key)
        text = pair[index] if pair else key
        return text.format(**fmt) if fmt else text

    return _


def localised(titles: dict[str, str], locale: str) -> str:
    """Pick ``locale`` from a profile's {en, ja} title dict, falling back to English."""
    return titles.get(locale) or titles.get(DEFAULT_LOCALE) or next(iter(titles.values()), "")
