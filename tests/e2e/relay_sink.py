"""A relay host for the relay tests: an SMTP server on 127.0.0.1 (Debian's
python3-aiosmtpd) that offers STARTTLS, refuses mail before TLS and AUTH,
accepts AUTH PLAIN/LOGIN only over TLS and only for one user and password,
and appends what it saw to a JSON-lines file:

    {"event": "auth", "mechanism": "PLAIN", "login": "...", "ok": true, "tls": true}
    {"event": "message", "mail_from": "...", "rcpt_tos": [...], "tls": true, "login": "...", "data": "..."}

It never writes the password. Run by Debian's /usr/bin/python3 (the tests'
interpreter may be another one without aiosmtpd); prints "ready" once it
listens.

    /usr/bin/python3 relay_sink.py --port P --cert C --key K --user U --password-file F --log L

Without --user and --password-file it is a plain receiving MX instead (the
DANE test's): STARTTLS offered, no AUTH. --address (default 127.0.0.1) is
where it listens.
"""

import argparse
import asyncio
import json
import ssl

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def main():
    parser = argparse.ArgumentParser()
    for name in ("--cert", "--key", "--log"):
        parser.add_argument(name, required=True)
    parser.add_argument("--user")
    parser.add_argument("--password-file")
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    relay = args.user is not None
    password = None
    if relay:
        with open(args.password_file, encoding="utf-8") as f:
            password = f.read().rstrip("\n")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(args.cert, args.key)

    def record(**event):
        with open(args.log, "a", encoding="utf-8") as f:
            f.write(json.dumps(event) + "\n")

    def authenticator(server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            record(event="auth", mechanism=mechanism, login=None, ok=False, tls=session.ssl is not None)
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode(errors="replace")
        ok = login == args.user and auth_data.password.decode(errors="replace") == password
        record(event="auth", mechanism=mechanism, login=login, ok=ok, tls=session.ssl is not None)
        # handled=False: aiosmtpd then sends 235 or 535 itself.
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            login = session.auth_data.login.decode() if session.auth_data else None
            record(event="message", mail_from=envelope.mail_from, rcpt_tos=envelope.rcpt_tos,
                   tls=session.ssl is not None, login=login, data=envelope.content.decode(errors="replace"))
            return "250 2.0.0 accepted by the relay sink"

    def factory():
        if not relay:
            return SMTP(Handler(), hostname="mx.example.net", tls_context=context)
        return SMTP(Handler(), hostname="relay.example.net", tls_context=context, require_starttls=True,
                    authenticator=authenticator, auth_required=True, auth_require_tls=True)

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.run_until_complete(loop.create_server(factory, args.address, args.port))
    print("ready", flush=True)
    loop.run_forever()


if __name__ == "__main__":
    main()
