require ["fileinto", "envelope", "encoded-character", "imap4flags", "copy", "subaddress",
  "variables", "relational", "body", "vacation", "vacation-seconds", "reject", "mailbox",
  "date", "index", "editheader", "duplicate", "regex", "environment", "spamtestplus",
  "virustest", "comparator-i;ascii-numeric", "comparator-i;unicode-casemap"];
if header :matches "subject" "*[*]*" { set "s" "${2}"; }
if address :detail :matches ["to", "cc", "from"] "*" { addflag "d-${1}"; }
if address :count "ge" :comparator "i;ascii-numeric" ["to", "cc"] "2" { addflag "many"; }
if envelope :user "to" "bob" { addflag "bob"; }
if body :text :contains "invoice" { fileinto :copy "Invoices"; }
if body :content "text" :matches "*total*" { set :length "len" "${1}"; }
if body :raw :regex "[A-Z]{4}" { addflag "raw"; }
if date :zone "+0200" :value "ge" "date" "date" "2000-01-01" { addflag "recent"; }
if date :index 1 :last "received" "weekday" "0" { addflag "sunday"; }
if header :regex "message-id" "<([^@]+)@(.*)>" { set :upper "id" "${1}"; }
if header :comparator "i;unicode-casemap" :contains "from" "ü" { addflag "umlaut"; }
if spamtest :percent :value "gt" :comparator "i;ascii-numeric" "50" { fileinto :create "Junk"; }
if virustest :value "ge" :comparator "i;ascii-numeric" "4" { discard; stop; }
if duplicate :header "message-id" { addflag "dup"; }
if environment :contains "name" "storaged" { addheader "X-Seen" "${id} ${len}"; }
deleteheader :index 1 :contains "x-seen" "x";
if exists "x-seen" { removeflag "many"; }
if hasflag :count "gt" :comparator "i;ascii-numeric" "3" { vacation :days 1 :subject "Re: ${s}" "away"; }
if size :over 10K { fileinto :flags "\\Seen" "Big"; }
