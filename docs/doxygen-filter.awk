# Doxygen's input filter for include/stackless.h (see docs/Doxyfile).
#
# The header's comments are documentation whatever cbindgen's
# `documentation_style`: this filter makes Doxygen read them so, by their
# shape alone (never by their wording), and keeps every line where it is,
# so that a warning names the header's own line.
#
# - A line comment that starts a line (`// text`, cbindgen's "c99" style)
#   becomes `/// text`; `///`, `//!` and `/** */` comments keep their
#   markers.
# - A block comment that starts in column 0 with `/*` (the hand-written
#   trailer's style) and ends right above a declaration or a macro
#   becomes `/** ... */`, the documentation of that declaration. A block
#   comment followed by a blank line, another comment or a preprocessor
#   conditional stays an ordinary comment (section banners).
# - The comment that opens the file becomes the file's description.
# - Comment text is plain text and Markdown, not Doxygen commands, so
#   that no wording can make Doxygen warn or drop a character. Doxygen
#   takes text in "double quotes" literally; elsewhere `\`, `@`, and `#`
#   before a letter are escaped outside `code spans` (Doxygen would read a
#   command or a link request), and `%` before a letter becomes `%%`, in
#   code spans too (Doxygen drops the `%` of `%d` even there).

{ line[NR] = $0 }

# Whether a block comment followed by `next_line` documents it.
function documents(next_line) {
    if (next_line ~ /^[ \t]*$/ || next_line ~ /^[ \t]*\/[*\/]/) return 0
    if (next_line ~ /^#[ \t]*(if|ifdef|ifndef|else|elif|endif|include)/) return 0
    if (next_line ~ /^extern "C"/ || next_line ~ /^}/) return 0
    return 1
}

# `text` with Doxygen's special characters escaped (see above). Spans are
# tracked within the line: a code span or a quotation does not continue on
# the next line.
function escape_text(text,    out, i, c, next_c, code, quote) {
    out = ""
    code = 0
    quote = 0
    for (i = 1; i <= length(text); i++) {
        c = substr(text, i, 1)
        next_c = substr(text, i + 1, 1)
        if (c == "`" && !quote) {
            code = !code
        } else if (c == "\"" && !code) {
            quote = !quote
        } else if (!quote && c == "%" && next_c ~ /[A-Za-z_]/) {
            c = "%%"
        } else if (!quote && !code && (c == "\\" || c == "@")) {
            c = "\\" c
        } else if (!quote && !code && c == "#" && next_c ~ /[A-Za-z_]/) {
            c = "\\" c
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
            l = escape_text(l)
        } else if (l ~ /^[ \t]*\/\//) {
            l = escape_text(l)
            if (l ~ /^[ \t]*\/\/([^\/!].*)?$/) sub(/\/\//, "///", l)
        } else if (l ~ /^[ \t]*\/\*/) {
            end = i
            while (end < NR && line[end] !~ /\*\//) end++
            in_block = end > i
            l = escape_text(l)
            if (l ~ /^\/\*([^*].*)?$/) {
                if (i == 1) {
                    l = "/** \\file" substr(l, 3)
                } else if (documents(line[end + 1])) {
                    l = "/**" substr(l, 3)
                }
            }
        }
        print l
    }
}
