#include "milter/from_header.h"

#include <cstring>
#include <optional>

namespace vmail {
namespace {

// RFC 5322 specials (section 3.2.3) that end an atom. '.' is one too: a
// dot-atom is read as atoms and dots, so "a.b" and the obsolete "a . b" are
// the same local part.
constexpr std::string_view kSpecials = "()<>[]:;@\\,.\"";

enum class Kind { kWord, kLiteral, kSpecial, kEnd };

struct Token {
  Kind kind = Kind::kEnd;
  std::string text;  // a word (atom or unquoted quoted-string), a literal with its brackets, or the special
  bool quoted = false;
};

Status bad(const std::string& reason) { return Status(Code::kBadInput, "From: " + reason); }

// A control character other than the folding whitespace (and DEL): never
// valid in a header, and a way to hide text from a log line.
bool is_control(unsigned char c) { return (c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f; }

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

class Lexer {
 public:
  explicit Lexer(std::string_view in) : in_(in) {}

  // The next token after whitespace and comments.
  Result<Token> next() {
    if (Status s = skip_cfws(); !s.ok()) return s;
    Token t;
    if (pos_ == in_.size()) return t;
    char c = in_[pos_];
    if (is_control(static_cast<unsigned char>(c))) return bad("a control character");
    if (c == '"') return quoted_string();
    if (c == '[') return literal();
    if (c == ')') return bad("')' without '('");
    if (c == ']') return bad("']' without '['");
    if (c == '\\') return bad("'\\' outside a quoted string");
    if (kSpecials.find(c) != std::string_view::npos) {
      ++pos_;
      t.kind = Kind::kSpecial;
      t.text = std::string(1, c);
      return t;
    }
    size_t start = pos_;
    while (pos_ < in_.size() && !is_space(in_[pos_]) && kSpecials.find(in_[pos_]) == std::string_view::npos) {
      if (is_control(static_cast<unsigned char>(in_[pos_]))) return bad("a control character");
      ++pos_;
    }
    t.kind = Kind::kWord;
    t.text = std::string(in_.substr(start, pos_ - start));
    return t;
  }

 private:
  // Whitespace (folding included) and comments, which nest and may hold
  // quoted-pairs (RFC 5322 section 3.2.2).
  Status skip_cfws() {
    while (pos_ < in_.size()) {
      if (is_space(in_[pos_])) {
        ++pos_;
        continue;
      }
      if (in_[pos_] != '(') return Status::Ok();
      int depth = 0;
      do {
        if (pos_ == in_.size()) return bad("a comment without ')'");
        char c = in_[pos_++];
        if (is_control(static_cast<unsigned char>(c))) return bad("a control character");
        if (c == '\\') {
          if (pos_ == in_.size()) return bad("a comment without ')'");
          ++pos_;
        } else if (c == '(') {
          ++depth;
        } else if (c == ')') {
          --depth;
        }
      } while (depth > 0);
    }
    return Status::Ok();
  }

  Result<Token> quoted_string() {
    Token t;
    t.kind = Kind::kWord;
    t.quoted = true;
    ++pos_;  // the opening quote
    while (true) {
      if (pos_ == in_.size()) return bad("a quoted string without its closing '\"'");
      char c = in_[pos_++];
      if (c == '"') return t;
      if (is_control(static_cast<unsigned char>(c))) return bad("a control character");
      if (c == '\r' || c == '\n') continue;  // folding: CRLF WSP is the WSP alone
      if (c == '\\') {
        if (pos_ == in_.size()) return bad("a quoted string without its closing '\"'");
        c = in_[pos_++];
        if (is_control(static_cast<unsigned char>(c)) || c == '\r' || c == '\n') return bad("a control character");
      }
      t.text += c;
    }
  }

  Result<Token> literal() {
    Token t;
    t.kind = Kind::kLiteral;
    size_t start = pos_++;
    while (true) {
      if (pos_ == in_.size()) return bad("a domain literal without ']'");
      char c = in_[pos_++];
      if (c == ']') break;
      if (c == '[' || c == '\\') return bad("'" + std::string(1, c) + "' inside a domain literal");
      if (is_control(static_cast<unsigned char>(c))) return bad("a control character");
    }
    t.text = std::string(in_.substr(start, pos_ - start));
    return t;
  }

  std::string_view in_;
  size_t pos_ = 0;
};

bool is_special(const Token& t, char c) { return t.kind == Kind::kSpecial && t.text[0] == c; }

std::string describe(const Token& t) {
  switch (t.kind) {
    case Kind::kEnd: return "the end";
    case Kind::kSpecial: return "'" + t.text + "'";
    case Kind::kLiteral: return "a domain literal";
    case Kind::kWord: return t.quoted ? "a quoted string" : "a word";
  }
  return "?";
}

class Parser {
 public:
  explicit Parser(std::string_view value) : lexer_(value) {}

  Result<std::vector<HeaderAddress>> address_list() {
    if (Status s = advance(); !s.ok()) return s;
    while (tok_.kind != Kind::kEnd) {
      // obs-addr-list: empty elements ("a@b, , c@d") are allowed.
      if (is_special(tok_, ',')) {
        if (Status s = advance(); !s.ok()) return s;
        continue;
      }
      if (Status s = address(true); !s.ok()) return s;
      if (tok_.kind == Kind::kEnd) break;
      if (!is_special(tok_, ',')) return bad(describe(tok_) + " after an address, expected ','");
    }
    if (out_.empty()) return bad("no address");
    return std::move(out_);
  }

 private:
  Status advance() {
    auto t = lexer_.next();
    if (!t.ok()) return t.status();
    tok_ = std::move(*t);
    return Status::Ok();
  }

  // A mailbox, or (when `group_allowed`) a group of them. The words read
  // before the first '@', '<' or ':' are a local part (then '@') or a
  // display name (then '<' or ':').
  Status address(bool group_allowed) {
    std::vector<Token> words;
    while (tok_.kind == Kind::kWord || is_special(tok_, '.')) {
      words.push_back(tok_);
      if (Status s = advance(); !s.ok()) return s;
    }
    if (is_special(tok_, '@')) {
      auto local = local_part(words);
      if (!local.ok()) return local.status();
      return addr_spec_rest(*local);
    }
    if (is_special(tok_, '<')) {
      if (Status s = advance(); !s.ok()) return s;
      return angle_addr();
    }
    if (is_special(tok_, ':')) {
      if (!group_allowed) return bad("a group inside a group");
      if (words.empty()) return bad("a group without a name");
      return group();
    }
    if (words.empty()) return bad(describe(tok_) + " where an address was expected");
    return bad("a name without an address");
  }

  // word *("." word): each dot between two words, none at either end.
  Result<std::string> local_part(const std::vector<Token>& words) {
    if (words.empty()) return bad("an address without a local part");
    std::string local;
    bool want_word = true;
    for (const Token& w : words) {
      bool dot = w.kind == Kind::kSpecial;
      if (dot == want_word) return bad(dot ? "a local part with a misplaced '.'" : "a local part of several words");
      local += dot ? "." : w.text;
      want_word = dot;
    }
    if (want_word) return bad("a local part ending in '.'");
    return local;
  }

  // After the local part: '@' domain.
  Status addr_spec_rest(const std::string& local) {
    if (Status s = advance(); !s.ok()) return s;  // the '@'
    auto domain = this->domain();
    if (!domain.ok()) return domain.status();
    out_.push_back({local, *domain});
    return Status::Ok();
  }

  // dot-atom or a domain literal; the token after it is current on return.
  Result<std::string> domain() {
    if (tok_.kind == Kind::kLiteral) {
      std::string d = tok_.text;
      if (Status s = advance(); !s.ok()) return s;
      return d;
    }
    std::string d;
    while (true) {
      if (tok_.kind != Kind::kWord || tok_.quoted) return bad(describe(tok_) + " in a domain");
      d += tok_.text;
      if (Status s = advance(); !s.ok()) return s;
      if (!is_special(tok_, '.')) return d;
      d += '.';
      if (Status s = advance(); !s.ok()) return s;
    }
  }

  // After '<': [obs-route] addr-spec '>'.
  Status angle_addr() {
    if (is_special(tok_, '@')) {
      // obs-route: "@a.example,@b.example:" before the address; skipped.
      while (is_special(tok_, '@') || is_special(tok_, ',')) {
        bool at = is_special(tok_, '@');
        if (Status s = advance(); !s.ok()) return s;
        if (at) {
          if (auto d = domain(); !d.ok()) return d.status();
        }
      }
      if (!is_special(tok_, ':')) return bad(describe(tok_) + " in a route, expected ':'");
      if (Status s = advance(); !s.ok()) return s;
    }
    std::vector<Token> words;
    while (tok_.kind == Kind::kWord || is_special(tok_, '.')) {
      words.push_back(tok_);
      if (Status s = advance(); !s.ok()) return s;
    }
    if (words.empty() && is_special(tok_, '>')) return bad("an empty address <>");
    if (!is_special(tok_, '@')) return bad(describe(tok_) + " inside <>, expected '@'");
    auto local = local_part(words);
    if (!local.ok()) return local.status();
    if (Status s = addr_spec_rest(*local); !s.ok()) return s;
    if (!is_special(tok_, '>')) return bad(describe(tok_) + " after an address in <>, expected '>'");
    return advance();
  }

  // After the group's name: ':' [mailbox *("," mailbox)] ';'.
  Status group() {
    if (Status s = advance(); !s.ok()) return s;
    while (!is_special(tok_, ';')) {
      if (tok_.kind == Kind::kEnd) return bad("a group without ';'");
      if (is_special(tok_, ',')) {
        if (Status s = advance(); !s.ok()) return s;
        continue;
      }
      if (Status s = address(false); !s.ok()) return s;
      if (tok_.kind == Kind::kEnd) return bad("a group without ';'");
      if (!is_special(tok_, ',') && !is_special(tok_, ';')) {
        return bad(describe(tok_) + " after an address in a group, expected ',' or ';'");
      }
    }
    return advance();
  }

  Lexer lexer_;
  Token tok_;
  std::vector<HeaderAddress> out_;
};

}  // namespace

Result<std::vector<HeaderAddress>> parse_address_list(std::string_view value) {
  if (value.find('\0') != std::string_view::npos) return bad("a NUL byte");
  return Parser(value).address_list();
}

}  // namespace vmail
