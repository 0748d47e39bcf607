require ["fileinto"];
if header :contains "subject" "viagra" { fileinto "Junk"; stop; }
