"""The Bot API methods the fake implements, each a coroutine on BotApiState; Telegram's errors included.

Params arrive decoded (ints, floats, dicts); uploads are multipart file parts by field name. Text with
a parse_mode is reduced to plain text the way Telegram shows it, and malformed HTML or unescaped
MarkdownV2 is refused with Telegram's "can't parse entities" error.
"""

from __future__ import annotations

import html
import io
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tests.fakes.bot_api_state import MAX_DOWNLOAD_BYTES, ApiError, BotApiState, Call, bad_request, scope_key
from tests.fakes.updates import JSON

Uploads = dict[str, bytes]
Method = Callable[[BotApiState, JSON, Uploads], Awaitable[Any]]
METHODS: dict[str, tuple[str, Method]] = {}  # lower-case name -> (canonical name, implementation)
FLOOD_CHECKED = frozenset({"sendMessage", "sendPhoto", "sendMediaGroup", "sendLocation", "editMessageText",
                           "editMessageReplyMarkup"})
NOT_MODIFIED = ("message is not modified: specified new message content and reply markup are exactly the same as "
                "a current content and reply markup of the message")
CHAT_ACTIONS = frozenset({"typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
                          "upload_document", "choose_sticker", "find_location", "record_video_note",
                          "upload_video_note"})
_HTML_TAGS = frozenset({"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
                        "code", "pre", "blockquote", "tg-emoji"})
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)(?:\s[^<>]*)?>")
_COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")


async def call_method(state: BotApiState, name: str, params: JSON, uploads: Uploads) -> Any:
    """Record the call, then run it; raises ApiError (404 for an unknown method) like Telegram."""
    call = Call(name, params, {k: len(v) for k, v in uploads.items()})
    state.calls.append(call)
    try:
        canonical, method = METHODS.get(name.lower()) or (None, None)
        if method is None:
            raise ApiError(404, "Not Found")
        if canonical in FLOOD_CHECKED and isinstance(params.get("chat_id"), int):
            state.check_flood(params["chat_id"])
        return await method(state, params, uploads)
    except ApiError as err:
        call.error = err.description
        raise


def api_method(name: str) -> Callable[[Method], Method]:
    """Register a method implementation under its Bot API name."""

    def register(fn: Method) -> Method:
        METHODS[name.lower()] = (name, fn)
        return fn

    return register


def plain_text(text: str, parse_mode: str | None) -> str:
    """The text as the user sees it; raises Telegram's parse error for malformed markup."""
    if not parse_mode:
        return text
    mode = parse_mode.lower()
    if mode == "html":
        return _html_plain(text)
    if mode == "markdownv2":
        return _markdown_v2_plain(text)
    if mode == "markdown":
        return re.sub(r"[*_`]", "", text)
    raise bad_request(f"unsupported parse_mode: {parse_mode}")


def _parse_error(what: str) -> ApiError:
    return bad_request(f"can't parse entities: {what}")


def _html_plain(text: str) -> str:
    out, stack, pos = [], [], 0
    while (lt := text.find("<", pos)) >= 0:
        out.append(text[pos:lt])
        offset = len(text[:lt].encode())
        tag = _TAG.match(text, lt)
        if not tag or tag.group(2).lower() not in _HTML_TAGS:
            name = tag.group(2) if tag else ""
            raise _parse_error(f'Unsupported start tag "{name}" at byte offset {offset}')
        name = tag.group(2).lower()
        if tag.group(1):
            if not stack or stack[-1] != name:
                expected = stack[-1] if stack else ""
                raise _parse_error(f'Unmatched end tag at byte offset {offset}, expected "</{expected}>", '
                                   f'found "</{name}>"')
            stack.pop()
        else:
            stack.append(name)
        pos = tag.end()
    if stack:
        raise _parse_error(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return html.unescape("".join(out) + text[pos:])


def _markdown_v2_plain(text: str) -> str:
    out, i, in_code, in_link_url = [], 0, False, False
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            if not in_link_url:
                out.append(text[i + 1])
            i += 2
            continue
        i += 1
        if char == "`":
            in_code = not in_code
        elif in_code:
            out.append(char)
        elif in_link_url:
            in_link_url = char != ")"
        elif char == "]" and text[i : i + 1] == "(":
            in_link_url, i = True, i + 1
        elif char in "*_~|[" or (char == ">" and (i == 1 or text[i - 2] == "\n")):
            continue
        elif char in "_*[]()~`>#+-=|{}.!":
            raise _parse_error(f"Character '{char}' is reserved and must be escaped with the preceding '\\'")
        else:
            out.append(char)
    return "".join(out)


def _need(params: JSON, name: str) -> Any:
    value = params.get(name)
    if value is None or value == "":
        raise bad_request(f"{name} is empty" if name != "text" else "message text is empty")
    return value


def _caption(params: JSON) -> JSON:
    if not params.get("caption"):
        return {}
    caption = plain_text(str(params["caption"]), params.get("parse_mode"))
    if len(caption) > 1024:
        raise bad_request("message caption is too long")
    return {"caption": caption}


def _send(state: BotApiState, method: str, chat: JSON, content: JSON, params: JSON) -> JSON:
    markup = params.get("reply_markup")
    message = state.new_message(chat, content, markup)
    state.record(method, message, markup)
    return message


def _photo_sizes(state: BotApiState, ref: Any, upload: bytes | None) -> list[JSON]:
    if upload is not None:
        try:
            from PIL import Image

            Image.open(io.BytesIO(upload)).verify()
        except Exception as exc:
            raise bad_request("IMAGE_PROCESS_FAILED") from exc
        return state.store_photo(upload)
    if isinstance(ref, str) and ref in state.files:
        stored = state.files[ref]
        return [{"file_id": stored.file_id, "file_unique_id": stored.file_unique_id, "file_size": stored.file_size,
                 "width": 1280, "height": 960}]
    if isinstance(ref, str) and ref.startswith(("http://", "https://")):
        return state.store_photo(b"")
    raise bad_request("wrong file identifier/HTTP URL specified")


@api_method("getMe")
async def get_me(state: BotApiState, params: JSON, uploads: Uploads) -> JSON:
    """The bot's own User."""
    return state.bot_user


@api_method("getUpdates")
async def get_updates(state: BotApiState, params: JSON, uploads: Uploads) -> list[JSON]:
    """Long polling; 409 while a webhook is set."""
    if state.webhook.get("url"):
        raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                            "use deleteWebhook to delete the webhook first")
    return await state.get_updates(int(params.get("offset") or 0), int(params.get("limit") or 100),
                                   float(params.get("timeout") or 0), params.get("allowed_updates"))


@api_method("setWebhook")
async def set_webhook(state: BotApiState, params: JSON, uploads: Uploads) -> bool:
    """Record the webhook (nothing is delivered to it)."""
    secret = params.get("secret_token")
    if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
        raise bad_request("secret token contains unallowed characters")
    state.webhook = {k: v for k, v in params.items() if k != "certificate"}
    if params.get("drop_pending_updates"):
        state.drop_pending_updates()
    return True


@api_method("deleteWebhook")
async def delete_webhook(state: BotApiState, params: JSON, uploads: Uploads) -> bool:
    """Forget the webhook; optionally drop pending updates."""
    state.webhook = {"url": ""}
    if params.get("drop_pending_updates"):
        state.drop_pending_updates()
    return True


@api_method("getWebhookInfo")
async def get_webhook_info(state: BotApiState, params: JSON, uploads: Uploads) -> JSON:
    """The recorded webhook and the pending update count."""
    info = {"url": state.webhook.get("url", ""), "has_custom_certificate": False,
            "pending_update_count": len(state.pending_updates)}
    info.update({k: state.webhook[k] for k in ("max_connections", "allowed_updates", "ip_address")
                 if k in state.webhook})
    return info


@api_method("setMyCommands")
async def set_my_commands(state: BotApiState, params: JSON, uploads: Uploads) -> bool:
    """Store the command list per (scope, language_code)."""
    commands = params.get("commands")
    if not isinstance(commands, list) or len(commands) > 100:
        raise bad_request("commands must be a list of at most 100 BotCommand")
    for command in commands:
        if not _COMMAND_NAME.fullmatch(str(command.get("command", ""))) or not command.get("description"):
            raise bad_request("BOT_COMMAND_INVALID")
    state.bot_commands[(scope_key(params.get("scope")), params.get("language_code") or "")] = commands
    return True


@api_method("getMyCommands")
async def get_my_commands(state: BotApiState, params: JSON, uploads: Uploads) -> list[JSON]:
    """The command list of a (scope, language_code)."""
    return state.commands(params.get("language_code") or "", params.get("scope"))


@api_method("deleteMyCommands")
async def delete_my_commands(state: BotApiState, params: JSON, uploads: Uploads) -> bool:
    """Drop the command list of a (scope, language_code)."""
    state.bot_commands.pop((scope_key(params.get("scope")), params.get("language_code") or ""), None)
    return True


@api_method("sendMessage")
async def send_message(state: BotApiState, params: JSON, uploads: Uploads) -> JSON:
    """A text message (inline keyboards are echoed in the returned Message, reply keyboards are not)."""
    chat = state.chat_of(_need(params, "chat_id"))
    text = plain_text(str(_need(params, "text")), params.get("parse_mode"))
    if not text.strip():
        raise bad_request("message text is empty")
    if len(text) > 4096:
        raise bad_request("message is too long")
    return _send(state, "sendMessage", chat, {"text": text}, params)


@api_method("sendPhoto")
async def send_photo(state: BotApiState, params: JSON, uploads: Uploads) -> JSON:
    """A photo by upload (must be an image), file_id or URL."""
    chat = state.chat_of(_need(params, "chat_id"))
    sizes = _photo_sizes(state, params.get("photo"), uploads.get("photo"))
    return _send(state, "sendPhoto", chat, {"photo": sizes, **_caption(params)}, params)


@api_method("sendMediaGroup")
async def send_media_group(state: BotApiState, params: JSON, uploads: Uploads) -> list[JSON]:
    """An album of 2-10 photos/documents; each becomes its own message sharing a media_group_id."""
    chat = state.chat_of(_need(params, "chat_id"))
    media = params.get("media")
    if not isinstance(media, list) or not 2 <= len(media) <= 10:
        raise bad_request("wrong number of media in the group (must be 2-10)")
    group_id, messages = str(time.monotonic_ns()), []
    for item in media:
        ref = item.get("media", "")
        upload = uploads.get(ref[len("attach://"):]) if ref.startswith("attach://") else None
        if item.get("type") == "photo":
            content: JSON = {"photo": _photo_sizes(state, ref, upload)}
        else:
            stored = state.store_file(upload or b"", kind="documents")
            content = {"document": {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                                    "file_size": stored.file_size}}
        content.update(_caption(item), media_group_id=group_id)
        messages.append(_send(state, "sendMediaGroup", chat, content, {}))
    return messages


@api_method("sendLocation")
async def send_location(state: BotApiState, params: JSON, uploads: Uploads) -> JSON:
    """A map pin."""
    chat = state.chat_of(_need(params, "chat_id"))
    lat, lon = float(_need(params, "latitude")), float(_need(params, "longitude"))
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise bad_request("wrong latitude or longitude")
    return _send(state, "sendLocation", chat, {"location": {"latitude": lat, "longitude": lon}}, params)


@api_method("sendChatAction")
async def send_chat_action(state: BotApiState, params: JSON, uploads: Uploads) -> bool:
    """'typing...' and friends: recorded only."""
    state.chat_of(_need(params, "chat_id"))
    if params.get("action") not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    return True


def _message_to_edit(state: BotApiState, params: JSON) -> JSON:
    if params.get("inline_message_id"):
        raise bad_request("the fake supports only chat_id + message_id edits")
    chat = state.chat_of(_need(params, "chat_id"))
    message = state.messages.get((chat["id"], int(_need(params, "message_id"))))
    if message is None:
        raise bad_request("message to edit not found")
    return message


def _inline(markup: Any) -> JSON | None:
    return markup if isinstance(markup, dict) and "inline_keyboard" in markup else None


def _edited(old: JSON, markup: JSON | None, **changes: Any) -> JSON:
    message = {k: v for k, v in old.items() if k not in ("reply_markup", "entities")}
    message.update(changes, edit_date=int(time.time()))
    if markup:
        message["reply_markup"] = markup
    return message


@api_method("editMessageText")
async def edit_message_text(state: BotApiState, params: JSON, uploads: Uploads) -> JSON:
    """New text for a bot message; without reply_markup the inline keyboard goes away, as in Telegram."""
    old = _message_to_edit(state, params)
    if "text" not in old:
        raise bad_request("there is no text in the message to edit")
    text = plain_text(str(_need(params, "text")), params.get("parse_mode"))
    markup = _inline(params.get("reply_markup"))
    if text == old["text"] and markup == old.get("reply_markup"):
        raise bad_request(NOT_MODIFIED)
    message = _edited(old, markup, text=text)
    state.record("editMessageText", message, markup)
    return message


@api_method("editMessageReplyMarkup")
async def edit_message_reply_markup(state: BotApiState, params: JSON, uploads: Uploads) -> JSON:
    """Replace or remove the inline keyboard of a bot message."""
    old = _message_to_edit(state, params)
    markup = _inline(params.get("reply_markup"))
    if markup == old.get("reply_markup"):
        raise bad_request(NOT_MODIFIED)
    message = _edited(old, markup)
    state.record("editMessageReplyMarkup", message, markup)
    return message


@api_method("answerCallbackQuery")
async def answer_callback_query(state: BotApiState, params: JSON, uploads: Uploads) -> bool:
    """Record the answer; an unknown or already answered query is refused."""
    query_id = str(params.get("callback_query_id", ""))
    if query_id not in state.callback_queries or query_id in state.callback_answers:
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    state.callback_answers[query_id] = {k: v for k, v in params.items() if k != "callback_query_id"}
    return True


@api_method("getFile")
async def get_file(state: BotApiState, params: JSON, uploads: Uploads) -> JSON:
    """The File with its file_path; files over 20 MB cannot be downloaded by bots."""
    stored = state.files.get(str(params.get("file_id", "")))
    if stored is None:
        raise bad_request("invalid file_id")
    if max(stored.file_size, len(stored.data)) > MAX_DOWNLOAD_BYTES:
        raise bad_request("file is too big")
    return stored.to_json()
