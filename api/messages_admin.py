"""Page texts of the admin page (English, Japanese); added to :data:`api.messages.MESSAGES`
(a key already there keeps its text)."""

from __future__ import annotations

ADMIN_MESSAGES: dict[str, tuple[str, str]] = {
    "admin": ("Administration", "管理"),
    "users": ("Logins", "ログイン"),
    "agents": ("Agents", "担当者"),
    "api_keys": ("API keys", "API キー"),
    "maintenance": ("Maintenance windows", "メンテナンス期間"),
    "role": ("Role", "ロール"),
    "agent_link": ("Agent", "担当者"),
    "state": ("State", "状態"),
    "active": ("active", "有効"),
    "disabled": ("disabled", "無効"),
    "disable": ("Disable", "無効にする"),
    "enable": ("Enable", "有効にする"),
    "add": ("Add", "追加"),
    "name": ("Name", "名前"),
    "email": ("E-mail", "メール"),
    "skills": ("Skills", "スキル"),
    "languages": ("Languages", "言語"),
    "product_lines": ("Product lines", "製品ライン"),
    "teams": ("Teams", "チーム"),
    "tier": ("Tier", "ティア"),
    "capacity": ("Capacity", "上限件数"),
    "comma_separated": ("comma-separated", "カンマ区切り"),
    "prefix": ("Prefix", "プレフィックス"),
    "last_used": ("Last used", "最終使用"),
    "revoke": ("Revoke", "失効させる"),
    "revoked": ("revoked", "失効"),
    "create": ("Create", "作成"),
    "starts": ("Starts", "開始"),
    "starts_in": (
        "Starts (in your time zone, {tz}, unless you add an offset such as +09:00)",
        "開始(オフセット +09:00 などを付けなければ、あなたのタイムゾーン {tz})",
    ),
    "minutes": ("Minutes", "分"),
    "mode": ("Mode", "モード"),
    "cancel": ("Cancel", "取り消す"),
    "shown_once": (
        "Shown only now; it is stored hashed. Copy it:",
        "この一度だけ表示されます（保存はハッシュのみ）。コピーしてください：",
    ),
    "password_for": ("Password for {name}", "{name} のパスワード"),
    "key_for": ("API key {name}", "API キー {name}"),
    "back_to_admin": ("Back to administration", "管理画面に戻る"),
}
