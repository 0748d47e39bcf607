require ["fileinto", "variables", "include"];
global "folder";
if header :contains "list-id" "acme-users" {
    set "folder" "Lists/acme";
    fileinto "${folder}";
    return;
}
fileinto "NotReached";
