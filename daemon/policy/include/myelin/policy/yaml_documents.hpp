// SPDX-License-Identifier: Apache-2.0
// Every document of a YAML stream, for the decoders of manifests and API
// objects. As YAML::LoadAll, but bounded: yaml-cpp 0.7 (Debian 12) loops
// forever, allocating, on a document that starts with a token no node starts
// with (a stray ',', ']' or '}' at the top level: one byte took the agent's
// memory; yaml-cpp #1040, fixed upstream after 0.8). Such a stream is an Error
// naming the file and the line. So is text that is not UTF-8 or holds a NUL
// (YAML is Unicode; a UTF-16 or UTF-32 stream with its byte order mark is
// converted by yaml-cpp, and yaml-cpp mangles a NUL): such bytes reached
// error messages the API cannot carry.
#pragma once

#include <string>
#include <vector>

#include "myelin/policy/refusal.hpp"

namespace YAML {
class Node;
}

namespace myelin::policy {

// A refusal's message() reads "file:line: invalid YAML: ...".
Decoded<std::vector<YAML::Node>> load_yaml_documents(const std::string& text, const std::string& file);

}  // namespace myelin::policy
