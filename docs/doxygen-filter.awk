# Doxygen's input filter for include/stackless.h (see docs/Doxyfile).
#
# The header's comments are documentation whatever cbindgen's
# `documentation_style`: this filter makes Doxygen read them so, by their
# shape alone (never by their wording), and keeps every line where it is,
# so that a warning names the header's own line.
#
# - A line comment that starts a line (`// text`, cbindgen's "c99" style)
#   becomes `/// text`. `///`, `//!` and `/** */` comments pass unchanged.
# - A block comment that starts in column 0 with `/*` (the hand-written
#   trailer's style) and ends right above a declaration or a macro
#   becomes `/** ... */`, the documentation of that declaration. A block
#   comment followed by a blank line, another comment or a preprocessor
#   conditional stays an ordinary comment (section banners).
# - The comment that opens the file becomes the file's description.
# - In comment text outside `code spans`, a `%` before a letter (a printf
#   conversion such as %d) is escaped: Doxygen would otherwise drop it.

{ line[NR] = $0 }

# Whether a block comment followed by `next_line` documents it.
function documents(next_line) {
    if (next_line ~ /^[ \t]*$/ || next_line ~ /^[ \t]*\/[*\/]/) return 0
    if (next_line ~ /^#[ \t]*(if|ifdef|ifndef|else|elif|endif|include)/) return 0
    if (next_line ~ /^extern "C"/ || next_line ~ /^}/) return 0
    return 1
}

# `text` with `%` escaped before letters, outside backquoted spans.
function escape_percent(text,    out, i, c, code) {
    out = ""
    code = 0
    for (i = 1; i <= length(text); i++) {
        c = substr(text, i, 1)
        if (c == "`") {
            code = !code
        } else if (c == "%" && !code && substr(text, i + 1, 1) ~ /[A-Za-z_]/) {
            c = "\\%"
        }
        out = out c
    }
    return out
}

END {
    in_block = 0
    for (i = 1; i <= NR; i++) {
        l = line[i]
        if (in_block) {
            # Inside a block comment that began on an earlier line.
            if (l ~ /\*\//) in_block = 0
            l = escape_percent(l)
        } else if (l ~ /^[ \t]*\/\/([^\/!].*)?$/) {
            sub(/\/\//, "///", l)
            l = escape_percent(l)
        } else if (l ~ /^[ \t]*\/\/[\/!]/) {
            l = escape_percent(l)
        } else if (l ~ /^[ \t]*\/\*/) {
            end = i
            while (end < NR && line[end] !~ /\*\//) end++
            in_block = end > i
            if (l ~ /^\/\*([^*].*)?$/) {
                if (i == 1) {
                    l = "/** \\file" substr(l, 3)
                } else if (documents(line[end + 1])) {
                    l = "/**" substr(l, 3)
                }
            }
            l = escape_percent(l)
        }
        print l
    }
}
