# bench/lib.sh: what bench/peer.sh and bench/import.sh share. Sourced.

# prepend_results RESULTS PREAMBLE SECTION: puts the Markdown in the file
# SECTION at the top of RESULTS (newest run first), under RESULTS' own
# preamble (everything before its first "## " line), or under PREAMBLE
# when RESULTS does not exist yet.
prepend_results() {
	local results=$1 preamble=$2 section=$3 tmp
	tmp=$(mktemp "$results.XXXXXX")
	{
		if [ -f "$results" ]; then
			sed -n '1,/^## /{/^## /!p}' "$results"
		else
			printf '%s\n\n' "$preamble"
		fi
		cat "$section"
		if [ -f "$results" ]; then sed -n '/^## /,$p' "$results"; fi
	} >"$tmp"
	mv "$tmp" "$results"
}
